"""Friend-add routes (SPEC §10) over real HTTP: the app served on a port, the simulator's LINE Login."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from app.extensions import db
from app.models.base import utcnow
from app.models.friends import Friend, FriendTag
from app.models.measure import Route, RouteLogin
from app.models.scenarios import Scenario
from linesim.testing import SimulatorHandle
from tests.conftest import CHANNEL_SECRET
from tests.factories import add_scenario, scenario_doc
from tests.support.rq import drain_queues

LOGIN_ID, LOGIN_SECRET = "1650000000", "test-login-secret"
USER = "U" + "a" * 32
CHAT = "https://line.me/R/oaMessage/@stepline/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def port() -> int:
    return _free_port()


@pytest.fixture()
def env(env: dict[str, str], sim: SimulatorHandle, port: int) -> dict[str, str]:
    return {**env, "LINE_API_BASE_URL": sim.base_url, "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LINE_LOGIN_CHANNEL_ID": LOGIN_ID, "LINE_LOGIN_CHANNEL_SECRET": LOGIN_SECRET,
            "LINE_LOGIN_AUTHORIZE_URL": f"{sim.base_url}/oauth2/v2.1/authorize", "LINE_BOT_BASIC_ID": "@stepline"}


@pytest.fixture()
def server(app: Flask, port: int, sim: SimulatorHandle) -> Iterator[str]:
    """The app on a real port (the simulator posts the follow webhook and redirects the browser there)."""
    http = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    sim.login(user_id=USER, webhook_url=f"{base}/callback", webhook_secret=CHANNEL_SECRET, consent=True,
              add_friend=True, forget_friends=True, id_token_secret=None)
    yield base
    http.shutdown()
    thread.join(5)


def _put(client: FlaskClient, headers: dict[str, str], route_id: str, body: dict[str, Any]) -> Any:
    return client.put(f"/admin/api/routes/{route_id}", json=body, headers=headers)


def _flyer(client: FlaskClient, headers: dict[str, str], route_id: str = "flyer") -> None:
    with db.transaction() as session:
        if session.get(Scenario, "onboard") is None:
            add_scenario(session, scenario_doc("onboard", start={"trigger": "manual"}))
    answer = _put(client, headers, route_id, {"name": "チラシ", "actions": [
        {"tag": f"via-{route_id}"}, {"enroll": "onboard"}, {"set": {"source": route_id}}]})
    assert answer.status_code in (200, 201), answer.get_json()


def _login(base: str, route_id: str = "flyer") -> requests.Response:
    """A browser: the route URL → LINE Login (auto-consent) → our callback; the last answer."""
    browser = requests.Session()
    first = browser.get(f"{base}/r/{route_id}", allow_redirects=False)
    assert first.status_code == 302
    consent = browser.get(first.headers["Location"], allow_redirects=False)
    assert consent.status_code == 302, consent.text
    return browser.get(consent.headers["Location"], allow_redirects=False)


def _friend() -> Friend | None:
    with db.session() as session:
        return session.scalars(sa.select(Friend).where(Friend.user_id == USER)).first()


def _tags() -> set[str]:
    with db.session() as session:
        return set(session.scalars(sa.select(FriendTag.tag)))


def _route_stats(client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    [row] = [r for r in client.get("/admin/api/routes", headers=headers).get_json() if r["id"] == "flyer"]
    return dict(row)


def test_put_route_answers_its_url_and_qr(client: FlaskClient, admin_headers: dict[str, str], port: int) -> None:
    answer = _put(client, admin_headers, "flyer", {"name": "店頭チラシ", "actions": [{"tag": "shop"}]})
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["url"] == f"http://127.0.0.1:{port}/r/flyer" and body["qr"] == f"http://127.0.0.1:{port}/r/flyer/qr.svg"
    assert "店頭チラシ" in answer.get_data(as_text=True)  # not \\u-escaped
    assert _put(client, admin_headers, "flyer", {"name": "x", "actions": []}).status_code == 200


def test_invalid_route_is_refused_with_details(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    bad = _put(client, admin_headers, "flyer", {"name": "x", "actions": [{"bogus": 1}]})
    assert bad.status_code == 422 and bad.get_json()["details"][0]["path"] == "actions.0"
    missing = _put(client, admin_headers, "flyer", {"name": "x", "actions": [{"enroll": "nope"}]})
    assert missing.status_code == 422
    assert _put(client, admin_headers, "Bad_Id", {"name": "x"}).status_code == 422
    assert client.put("/admin/api/routes/flyer", json={"name": "x"}).status_code == 401


def test_qr_code_is_an_svg(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    _put(client, admin_headers, "flyer", {"name": "x", "actions": []})
    answer = client.get("/r/flyer/qr.svg")
    assert answer.status_code == 200 and answer.mimetype == "image/svg+xml"
    assert answer.get_data(as_text=True).lstrip().startswith(("<?xml", "<svg"))
    assert client.get("/r/nope/qr.svg").status_code == 404


def test_visit_redirects_to_line_login_with_the_required_parameters(client: FlaskClient,
                                                                   admin_headers: dict[str, str],
                                                                   sim: SimulatorHandle, port: int) -> None:
    _put(client, admin_headers, "flyer", {"name": "x", "actions": []})
    answer = client.get("/r/flyer")
    assert answer.status_code == 302
    target = urlsplit(answer.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{sim.base_url}/oauth2/v2.1/authorize"
    assert query["client_id"] == LOGIN_ID and query["response_type"] == "code"
    assert query["redirect_uri"] == f"http://127.0.0.1:{port}/r/callback"
    assert query["scope"] == "openid profile" and query["bot_prompt"] == "aggressive"
    assert query["state"] and query["nonce"]
    assert client.get("/r/unknown").status_code == 404
    with db.session() as session:
        assert session.get(Route, "flyer").visits == 1  # type: ignore[union-attr]


def test_new_friend_through_a_route_gets_its_actions_when_the_follow_arrives(
        server: str, client: FlaskClient, admin_headers: dict[str, str], sim: SimulatorHandle) -> None:
    _flyer(client, admin_headers)
    done = _login(server)
    assert done.status_code == 302 and done.headers["Location"] == CHAT
    assert _tags() == set()  # the follow webhook is stored, not processed yet
    drain_queues()
    friend = _friend()
    assert friend is not None and friend.route == "flyer" and friend.attributes["source"] == "flyer"
    assert _tags() == {"via-flyer"}
    with db.session() as session:
        assert session.scalar(sa.text("SELECT count(*) FROM enrollments WHERE scenario_id = 'onboard'")) == 1
    stats = _route_stats(client, admin_headers)
    assert (stats["visits"], stats["logins"], stats["new_friends"], stats["blocked_since"]) == (1, 1, 1, 0)
    sim.webhook([{"type": "unfollow", "userId": USER}], url=f"{server}/callback", channel_secret=CHANNEL_SECRET)
    drain_queues()
    assert _route_stats(client, admin_headers)["blocked_since"] == 1


def test_existing_friend_gets_the_actions_at_login(server: str, client: FlaskClient,
                                                   admin_headers: dict[str, str], sim: SimulatorHandle) -> None:
    _flyer(client, admin_headers)
    sim.webhook([{"type": "follow", "userId": USER}], url=f"{server}/callback", channel_secret=CHANNEL_SECRET)
    drain_queues()
    with db.transaction() as session:  # a friend since long before the visit
        session.execute(sa.update(Friend).values(followed_at=utcnow().replace(year=2020)))
    sim.login(add_friend=False)
    assert _login(server).status_code == 302
    friend = _friend()
    assert friend is not None and friend.route == "flyer" and _tags() == {"via-flyer"}
    assert _route_stats(client, admin_headers)["new_friends"] == 0


def test_the_first_route_wins_and_each_route_acts_once(server: str, client: FlaskClient,
                                                       admin_headers: dict[str, str]) -> None:
    _flyer(client, admin_headers, "flyer")
    _flyer(client, admin_headers, "poster")
    _login(server, "flyer")
    drain_queues()
    _login(server, "poster")
    _login(server, "flyer")
    drain_queues()
    friend = _friend()
    assert friend is not None and friend.route == "flyer" and _tags() == {"via-flyer", "via-poster"}
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(RouteLogin)) == 2


def _no_login_recorded() -> None:
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(RouteLogin)) == 0
        assert session.scalar(sa.select(Route.logins).where(Route.id == "flyer")) == 0


def test_altered_state_answers_400_and_records_nothing(server: str, client: FlaskClient,
                                                       admin_headers: dict[str, str]) -> None:
    _flyer(client, admin_headers)
    browser = requests.Session()
    first = browser.get(f"{server}/r/flyer", allow_redirects=False)
    consent = browser.get(first.headers["Location"], allow_redirects=False)
    location = consent.headers["Location"]
    answer = browser.get(location.replace("state=", "state=x"), allow_redirects=False)
    assert answer.status_code == 400 and "text/html" in answer.headers["Content-Type"]
    assert browser.get(f"{server}/r/callback?code=abc", allow_redirects=False).status_code == 400
    _no_login_recorded()


def test_a_refused_code_answers_400_and_records_nothing(server: str, client: FlaskClient,
                                                        admin_headers: dict[str, str]) -> None:
    _flyer(client, admin_headers)
    browser = requests.Session()
    first = browser.get(f"{server}/r/flyer", allow_redirects=False)
    consent = browser.get(first.headers["Location"], allow_redirects=False)
    location = consent.headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    answer = browser.get(location.replace(f"code={code}", "code=forged"), allow_redirects=False)
    assert answer.status_code == 400
    _no_login_recorded()


def test_a_forged_id_token_answers_400_and_records_nothing(server: str, client: FlaskClient,
                                                           admin_headers: dict[str, str],
                                                           sim: SimulatorHandle) -> None:
    _flyer(client, admin_headers)
    sim.login(id_token_secret="not-the-channel-secret")
    assert _login(server).status_code == 400
    _no_login_recorded()


def test_a_replayed_callback_is_refused(server: str, client: FlaskClient, admin_headers: dict[str, str]) -> None:
    _flyer(client, admin_headers)
    browser = requests.Session()
    first = browser.get(f"{server}/r/flyer", allow_redirects=False)
    consent = browser.get(first.headers["Location"], allow_redirects=False)
    assert browser.get(consent.headers["Location"], allow_redirects=False).status_code == 302
    assert browser.get(consent.headers["Location"], allow_redirects=False).status_code == 400


def test_cli_puts_and_lists_routes(app: Flask) -> None:
    runner = app.test_cli_runner()
    put = runner.invoke(args=["routes", "put", "poster", "--name", "ポスター", "--tag", "poster",
                              "--set", "vip=true"])
    assert put.exit_code == 0, put.output
    assert "/r/poster" in put.output and "/r/poster/qr.svg" in put.output
    listed = runner.invoke(args=["routes", "list", "--json"])
    [row] = [r for r in json.loads(listed.output) if r["id"] == "poster"]
    assert row["actions"] == [{"tag": "poster"}, {"set": {"vip": True}}] and row["name"] == "ポスター"
    assert runner.invoke(args=["routes", "delete", "poster"]).exit_code == 0


def test_a_follow_processed_before_the_callback_still_counts_a_new_friend(
        server: str, client: FlaskClient, admin_headers: dict[str, str]) -> None:
    _flyer(client, admin_headers)
    browser = requests.Session()
    first = browser.get(f"{server}/r/flyer", allow_redirects=False)
    consent = browser.get(first.headers["Location"], allow_redirects=False)  # the bot is added here
    drain_queues()  # the worker handles the follow before the browser reaches the callback
    assert _tags() == set()
    assert browser.get(consent.headers["Location"], allow_redirects=False).status_code == 302
    friend = _friend()
    assert friend is not None and friend.route == "flyer" and _tags() == {"via-flyer"}
    assert _route_stats(client, admin_headers)["new_friends"] == 1
