"""Goals on click / event / tag (once per cycle, within ``within``) and the stats endpoint (SPEC §10)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from app.delivery import goals
from app.delivery.rules import add_tag
from app.extensions import db
from app.line.client import LineClient
from app.models.base import utcnow
from app.models.delivery import Enrollment, GoalConversion
from app.models.friends import Friend
from app.services import clicks
from app.services.sending import send_batch
from linesim.testing import SimulatorHandle
from tests.factories import T0, add_scenario, in_tx, population, scenario_doc
from tests.integration.measure.conftest import PUBLIC_URL, claim

Clients = Callable[[str], LineClient]
SHOP = "https://shop.example.com/item?id=7"
GOALS = [{"id": "visit", "on": {"click": "shop.example.com"}},
         {"id": "paid", "within": "3650d", "on": {"event": "purchase"}},
         {"id": "vip", "on": {"tag": "vip"}},
         {"id": "late", "within": "1d", "on": {"click": "shop.example.com"}}]


def _doc(**overrides: Any) -> dict[str, Any]:
    steps = [{"id": "hello", "at": {"after": "0s"}, "messages": [{"text": f"sale {SHOP}"}]},
             {"id": "later", "at": {"after": "1d"}, "messages": [{"text": "later"}]}]
    return scenario_doc(steps=steps, goals=GOALS, **overrides)


def _send(clients: Clients, n: int) -> list[str]:
    population(n, scenario=_doc())
    assert send_batch(clients, claim(), lambda: T0).sent == n
    return []


def _link_of(sim: SimulatorHandle, user_index: int) -> str:
    [delivery] = sim.deliveries(to=f"U{user_index:032d}")
    [url] = [w for w in delivery["messages"][0]["text"].split() if w.startswith(PUBLIC_URL)]
    return url[len(PUBLIC_URL):]


def _conversions() -> list[tuple[int, str]]:
    with db.session() as session:
        return sorted((c.enrollment_id, c.goal_id) for c in session.scalars(sa.select(GoalConversion)))


def test_click_goal_counts_once_per_cycle(sim: SimulatorHandle, clients: Clients, client: FlaskClient) -> None:
    _send(clients, 1)
    path = _link_of(sim, 0)
    client.get(path)
    client.get(path)
    clicks.drain()
    assert [goal for _, goal in _conversions()] == ["visit"]  # "late" (within 1d of T0) is long past


def test_event_goal_is_completed_by_the_events_api(sim: SimulatorHandle, clients: Clients, client: FlaskClient,
                                                   admin_headers: dict[str, str]) -> None:
    _send(clients, 1)
    body = {"user_id": f"U{0:032d}", "name": "purchase"}
    first = client.post("/admin/api/events", json=body, headers=admin_headers)
    assert first.status_code == 200
    assert first.get_json()["goals"] == [{"scenario": "welcome", "goal": "paid"}]
    again = client.post("/admin/api/events", json=body, headers=admin_headers)
    assert "goals" not in again.get_json()
    assert [goal for _, goal in _conversions()] == ["paid"]


def test_event_after_within_of_the_start_date_does_not_count(sim: SimulatorHandle, clients: Clients,
                                                             client: FlaskClient,
                                                             admin_headers: dict[str, str]) -> None:
    _send(clients, 1)
    late = (T0 + timedelta(days=3651)).isoformat()
    answer = client.post("/admin/api/events", json={"user_id": f"U{0:032d}", "name": "purchase", "at": late},
                         headers=admin_headers)
    assert "goals" not in answer.get_json() and _conversions() == []


def test_tag_goal_is_reached_when_the_friend_gets_the_tag(sim: SimulatorHandle, clients: Clients) -> None:
    _send(clients, 1)
    with db.transaction() as session:
        friend = session.scalars(sa.select(Friend)).one()
        add_tag(session, friend, "vip", at=utcnow(), now=utcnow())
        add_tag(session, friend, "vip", at=utcnow(), now=utcnow())
    assert [goal for _, goal in _conversions()] == ["vip"]


def test_a_new_cycle_counts_the_goal_again(sim: SimulatorHandle, clients: Clients) -> None:
    _send(clients, 1)
    with db.transaction() as session:
        friend = session.scalars(sa.select(Friend)).one()
        add_tag(session, friend, "vip", at=utcnow(), now=utcnow())
        first = session.scalars(sa.select(Enrollment)).one()
        first.status = "completed"
        session.flush()
        session.add(Enrollment(friend_id=friend.id, scenario_id="welcome", scenario_version=1, cycle=2,
                               status="active", start_at=utcnow(), next_step_id="hello", next_run_at=None))
        session.execute(sa.text("DELETE FROM friend_tags"))
        add_tag(session, friend, "vip", at=utcnow(), now=utcnow())
    assert [goal for _, goal in _conversions()] == ["vip", "vip"]


def test_stats_give_clicks_replies_skips_and_conversion_rates(sim: SimulatorHandle, clients: Clients,
                                                              client: FlaskClient,
                                                              admin_headers: dict[str, str]) -> None:
    population(4, scenario=_doc())
    with db.transaction() as session:  # one friend blocked before the send: skipped
        session.execute(sa.update(Friend).where(Friend.user_id == f"U{3:032d}").values(status="blocked"))
    send_batch(clients, claim(), lambda: T0)
    client.get(_link_of(sim, 0))
    client.get(_link_of(sim, 0))
    client.get(_link_of(sim, 1))
    answer = client.get("/admin/api/scenarios/welcome/stats", headers=admin_headers)
    assert answer.status_code == 200
    body = answer.get_json()
    hello = next(s for s in body["steps"] if s["step_id"] == "hello")
    assert (hello["sent"], hello["clicks"], hello["unique_clicks"], hello["skipped"]) == (3, 3, 2, 1)
    assert hello["click_rate"] == 2 / 3
    assert hello["replies"] == 0 and hello["blocked_after"] == 0
    assert body["enrolled"] == 4
    assert body["conversions"] == {"visit": 2, "paid": 0, "vip": 0, "late": 0}
    assert body["conversion_rate"]["visit"] == 2 / 4
    assert hello["conversions"]["visit"] == 2
    assert "totals" in body and "goals" in body  # the keys the dashboard and CLI already used stay


def test_dashboard_scenario_page_shows_the_funnel(sim: SimulatorHandle, clients: Clients,
                                                  client: FlaskClient) -> None:
    from tests.integration.dashboard.conftest import login

    _send(clients, 2)
    client.get(_link_of(sim, 1))
    login(client)
    page = client.get("/admin/scenarios/welcome")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="chart funnel"' in html and "hello: 1 clicked (50.0%)" in html
    assert "<script" not in html.split('id="funnel"')[1].split("</section>")[0]


def test_metrics_carry_clicks_and_conversions(sim: SimulatorHandle, clients: Clients, client: FlaskClient) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _send(clients, 1)
    client.get(_link_of(sim, 0))
    clicks.drain()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
               for s in family.samples}
    assert samples[("stepline_link_clicks_total", (("scenario", "welcome"), ("step", "hello")))] == 1
    assert samples[("stepline_link_unique_clicks", (("scenario", "welcome"), ("step", "hello")))] == 1
    assert samples[("stepline_goal_conversions_total", (("goal", "visit"), ("scenario", "welcome")))] == 1
    assert samples[("stepline_link_clicks_queued", ())] == 0


def test_any_goal_of_looks_at_every_stored_version(app) -> None:
    with db.session() as session:
        assert not goals.any_goal_of(session, goals.CLICK)  # nothing stored: a click drain skips the cycles
    in_tx(lambda s: add_scenario(s, scenario_doc("events", goals=[{"id": "paid", "on": {"event": "purchase"}}])))
    in_tx(lambda s: add_scenario(s, scenario_doc("clicks", goals=[{"id": "visit", "on": {"click": "x.example"}}])))
    in_tx(lambda s: add_scenario(s, scenario_doc("clicks"), version=2))  # the click goal only in version 1
    with db.session() as session:
        assert goals.any_goal_of(session, goals.EVENT) and goals.any_goal_of(session, goals.CLICK)
        assert not goals.any_goal_of(session, goals.TAG)
