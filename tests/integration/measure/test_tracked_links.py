"""Tracked links (SPEC §10): URLs rewritten at send time, 302 + a click recorded exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.config import Settings
from app.extensions import db, redis_handle
from app.line.client import LineClient
from app.models.delivery import Delivery
from app.models.measure import LinkClick
from app.services import click_queue, clicks
from app.services.sending import send_batch
from linesim.testing import SimulatorHandle
from tests.factories import T0, deliveries, population, scenario_doc
from tests.integration.measure.conftest import PUBLIC_URL, claim

Clients = Callable[[str], LineClient]
SHOP = "https://shop.example.com/item?id=7"
FLEX = {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": [
    {"type": "button", "action": {"type": "uri", "label": "Open", "uri": "https://flex.example.com/a"}}]}}
CONFIRM = {"type": "confirm", "text": "Buy?", "actions": [
    {"type": "uri", "label": "Yes", "uri": "https://confirm.example.com/yes"},
    {"type": "message", "label": "No", "text": "no"}]}


def _doc(messages: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    return scenario_doc(steps=[{"id": "hello", "at": {"after": "0s"}, "messages": messages}], **overrides)


def _send(clients: Clients, n: int, messages: list[dict[str, Any]], **overrides: Any) -> None:
    population(n, scenario=_doc(messages, **overrides))
    summary = send_batch(clients, claim(), lambda: T0)
    assert summary.sent == n


def _tracked_urls(text: str) -> list[str]:
    return [word for word in text.split() if word.startswith(f"{PUBLIC_URL}/l/")]


def _path(url: str) -> str:
    return url[len(PUBLIC_URL):]


def _clicks() -> list[LinkClick]:
    with db.session() as session:
        return list(session.scalars(sa.select(LinkClick).order_by(LinkClick.id)))


def test_text_urls_are_sent_as_tracked_links_one_per_friend(sim: SimulatorHandle, clients: Clients) -> None:
    _send(clients, 2, [{"text": f"見てね {SHOP} ！"}])
    texts = [d["messages"][0]["text"] for d in sim.deliveries()]
    urls = [_tracked_urls(t) for t in texts]
    assert all(len(u) == 1 for u in urls) and urls[0] != urls[1]
    assert SHOP not in texts[0] and texts[0].startswith("見てね ") and texts[0].endswith(" ！")


def test_steps_with_tracked_links_go_out_by_push_not_multicast(sim: SimulatorHandle, clients: Clients) -> None:
    _send(clients, 12, [{"text": f"sale {SHOP}"}])
    endpoints = {d["endpoint"] for d in sim.deliveries()}
    assert endpoints == {"push"}


def test_untracked_steps_still_multicast(sim: SimulatorHandle, clients: Clients) -> None:
    _send(clients, 12, [{"text": f"sale {SHOP}"}], track_links=False)
    assert {d["endpoint"] for d in sim.deliveries()} == {"multicast"}
    assert sim.deliveries()[0]["messages"][0]["text"] == f"sale {SHOP}"


def test_click_redirects_to_the_original_url_and_is_recorded_once(sim: SimulatorHandle, clients: Clients,
                                                                  client: FlaskClient) -> None:
    _send(clients, 1, [{"text": f"sale {SHOP}"}])
    [url] = _tracked_urls(sim.deliveries()[0]["messages"][0]["text"])
    answer = client.get(_path(url))
    assert answer.status_code == 302 and answer.headers["Location"] == SHOP
    assert _clicks() == []  # recorded off the request path
    assert clicks.drain() == 1
    assert clicks.drain() == 0
    [row] = _clicks()
    [delivery] = deliveries()
    assert (row.delivery_id, row.friend_id, row.scenario_id, row.step_id, row.link_index, row.url) == (
        delivery.id, delivery.friend_id, "welcome", "hello", 0, SHOP)


def test_altered_or_unknown_token_answers_404_and_records_nothing(sim: SimulatorHandle, clients: Clients,
                                                                 client: FlaskClient) -> None:
    _send(clients, 1, [{"text": f"sale {SHOP}"}])
    [url] = _tracked_urls(sim.deliveries()[0]["messages"][0]["text"])
    path = _path(url)
    delivery_part, row, step, index, sig = path[len("/l/"):].split(".")
    altered = f"/l/{int(delivery_part, 16) + 1:x}.{row}.{step}.{index}.{sig}"
    wrong_sig = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    for bad in (altered, wrong_sig, "/l/nonsense", f"/l/{delivery_part}.{row}.{step}.5.{sig}",
                f"/l/{delivery_part}.{int(row, 16) + 1:x}.{step}.{index}.{sig}"):
        assert client.get(bad).status_code == 404, bad
    assert clicks.drain() == 0 and _clicks() == []


def test_uri_actions_of_buttons_templates_and_flex_are_tracked(sim: SimulatorHandle, clients: Clients,
                                                              client: FlaskClient) -> None:
    _send(clients, 1, [
        {"buttons": {"text": "Pick", "actions": [{"label": "Shop", "uri": SHOP}]}},
        {"template": CONFIRM, "alt_text": "Buy?"},
        {"flex": {"alt_text": "card", "contents": FLEX}},
    ])
    [sent] = sim.deliveries()
    assert sim.stats()["endpoints"]["push"] == {"accepted": 1}  # valid against LINE's OpenAPI schema
    uris = [sent["messages"][0]["template"]["actions"][0]["uri"],
            sent["messages"][1]["template"]["actions"][0]["uri"],
            sent["messages"][2]["contents"]["body"]["contents"][0]["action"]["uri"]]
    assert all(u.startswith(f"{PUBLIC_URL}/l/") for u in uris), uris
    targets = [client.get(_path(u)).headers["Location"] for u in uris]
    assert targets == [SHOP, "https://confirm.example.com/yes", "https://flex.example.com/a"]
    assert clicks.drain() == 3


def test_text_that_would_pass_line_limit_with_tracked_urls_keeps_them_untracked(
        sim: SimulatorHandle, clients: Clients) -> None:
    text = "x" * (5000 - len(SHOP) - 1) + " " + SHOP  # exactly 5,000 units; a tracked URL is longer
    _send(clients, 1, [{"text": text}, {"text": f"short {SHOP}"}])
    [sent] = sim.deliveries()
    assert sent["messages"][0]["text"] == text
    assert _tracked_urls(sent["messages"][1]["text"])


def test_without_public_url_links_are_sent_as_written(sim: SimulatorHandle, env: dict[str, str],
                                                      bound: Settings) -> None:
    from app.config import load_settings
    from app.extensions import bind_services
    from app.line.channels import line_client

    plain = load_settings({k: v for k, v in env.items() if k != "PUBLIC_URL"}, testing=True)
    bind_services(plain)
    try:
        population(1, scenario=_doc([{"text": f"sale {SHOP}"}]))
        send_batch(lambda channel: line_client(plain, channel), claim(), lambda: T0)
    finally:
        bind_services(bound)
    assert sim.deliveries()[0]["messages"][0]["text"] == f"sale {SHOP}"


def test_click_is_stored_directly_when_redis_is_down(sim: SimulatorHandle, clients: Clients,
                                                     client: FlaskClient) -> None:
    _send(clients, 1, [{"text": f"sale {SHOP}"}])
    [url] = _tracked_urls(sim.deliveries()[0]["messages"][0]["text"])
    working = redis_handle.url
    redis_handle.bind("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        answer = client.get(_path(url))
        clicks.flush_buffered()  # the flusher thread does it within milliseconds anyway, while Redis is still down
    finally:
        redis_handle.bind(working)
    assert answer.status_code == 302
    assert len(_clicks()) == 1
    assert clicks.drain() == 0


def test_a_flush_that_failed_half_way_through_redis_is_recorded_once(sim: SimulatorHandle, clients: Clients,
                                                                    client: FlaskClient,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _send(clients, 4, [{"text": f"sale {SHOP}"}])
    urls = [_tracked_urls(push["messages"][0]["text"])[0] for push in sim.deliveries()]
    real_append = clicks._append

    def half_then_fail(entries: list[dict[str, str]]) -> None:
        real_append(entries[: len(entries) // 2])  # these reached the stream; the connection then broke
        raise redis.exceptions.ConnectionError("connection lost mid-pipeline")

    monkeypatch.setattr(clicks._queue, "_to_redis", half_then_fail)
    monkeypatch.setattr(click_queue, "FLUSH_INTERVAL_S", 60.0)  # one flush, ours
    for url in urls:
        assert client.get(_path(url)).status_code == 302
    clicks.flush_buffered()  # Redis failed: all four stored directly
    assert len(_clicks()) == 4
    assert clicks.drain() == 0  # the two that also reached the stream are skipped by their click keys
    assert len(_clicks()) == 4 and len({row.delivery_id for row in _clicks()}) == 4


def test_entry_read_by_a_crashed_drainer_is_recorded_once(sim: SimulatorHandle, clients: Clients,
                                                          client: FlaskClient, redis_url: str) -> None:
    _send(clients, 1, [{"text": f"sale {SHOP}"}])
    [url] = _tracked_urls(sim.deliveries()[0]["messages"][0]["text"])
    client.get(_path(url))
    clicks.flush_buffered()  # in the stream now, not a few milliseconds later
    raw = redis.Redis.from_url(redis_url)
    clicks._ensure_group(raw)
    [[_, entries]] = raw.xreadgroup(clicks.GROUP, "crashed", {clicks.STREAM: ">"}, count=10)
    with db.transaction() as session:  # the crashed drainer stored the row but never acknowledged
        clicks.store(session, [clicks._decode(entries[0][1])])
    assert clicks.drain() == 0  # still pending for "crashed": not idle long enough to take over
    saved, clicks.CLAIM_IDLE_MS = clicks.CLAIM_IDLE_MS, 0
    try:
        assert clicks.drain() == 0  # taken over, its insert skipped: the row exists
    finally:
        clicks.CLAIM_IDLE_MS = saved
    assert len(_clicks()) == 1 and raw.xlen(clicks.STREAM) == 0


def test_link_preview_fetchers_and_head_requests_are_not_counted(sim: SimulatorHandle, clients: Clients,
                                                                 client: FlaskClient) -> None:
    _send(clients, 1, [{"text": f"sale {SHOP}"}])
    [url] = _tracked_urls(sim.deliveries()[0]["messages"][0]["text"])
    preview = client.get(_path(url), headers={"User-Agent": "facebookexternalhit/1.1;line-poker/1.0"})
    head = client.head(_path(url))
    assert preview.status_code == head.status_code == 302
    assert clicks.drain() == 0


def test_a_drained_batch_stores_each_new_click_once_and_drops_removed_deliveries(
        sim: SimulatorHandle, clients: Clients) -> None:
    _send(clients, 3, [{"text": f"sale {SHOP}"}])
    with db.session() as session:
        ids = sorted(session.scalars(sa.select(Delivery.id)))

    def entry(key: str, delivery_id: int) -> dict[str, str]:
        return {"key": key, "at": f"{T0.timestamp():.6f}", "url": SHOP, "delivery_id": str(delivery_id),
                "link_index": "0", "scenario_id": "demo", "step_id": "hello"}

    with db.transaction() as session:
        assert clicks.store(session, [entry("a", ids[0])]) == 1
    batch = [entry("a", ids[0]), entry("b", ids[1]), entry("b", ids[1]), entry("c", ids[2]),
             entry("gone", max(ids) + 1000)]  # stored already, new, twice in the batch, new, no delivery
    with db.transaction() as session:
        assert clicks.store(session, batch) == 2
    rows = _clicks()
    assert sorted(row.click_key for row in rows) == ["a", "b", "c"]
    assert {row.delivery_id for row in rows} == set(ids)
    assert all(row.clicked_at == T0 and row.friend_id for row in rows)


def test_click_keys_differ_across_threads_and_forked_processes() -> None:
    import os
    import threading

    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.extend(clicks._keys.next() for _ in range(500)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a gunicorn worker forked from a master that had made keys
        os.write(write, clicks._keys.next().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    assert len(set(keys)) == 2000 and child not in keys and child[:24] != keys[0][:24]
