"""The Messaging API endpoints the bot uses, as LINE answers them (paths, codes, bodies, headers).

Order of checks, as on LINE: token (401) → faults → rate limit (429) → body (400) → retry key
(409) → quota (429) → accept and record. When LINE answers an error, nothing was sent.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web

from app.line import limits
from linesim.state import Accepted, Channel, SimOptions, Simulator
from linesim.validation import validate_request, warm_up

_JSON = "application/json"


SIM_KEY = web.AppKey("sim", Simulator)
OPTIONS_KEY = web.AppKey("options", SimOptions)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(payload).encode(), content_type=_JSON, headers=headers)


def error(status: int, message: str, details: list[dict[str, str]] | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    payload: dict[str, Any] = {"message": message}
    if details:
        payload["details"] = details
    return json_response(status, payload, headers)


def _request_id() -> str:
    return str(uuid.uuid4())


def _channel(request: web.Request) -> Channel | None:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None
    return request.app[SIM_KEY].by_token.get(auth[7:].strip())


async def _gate(request: web.Request, endpoint: str) -> Channel | web.Response:
    """Token, latency, injected pre-processing faults and the rate limit, common to all endpoints."""
    sim = request.app[SIM_KEY]
    channel = _channel(request)
    if channel is None:
        sim.count(endpoint, "unauthorized")
        return error(401, "Authentication failed. Confirm that the access token in the authorization header is valid.")
    if request.can_read_body:
        try:
            await request.read()  # cached by aiohttp; read before any delay so a client timeout is quiet
        except ConnectionResetError:
            raise asyncio.CancelledError from None
    delay = sim.latency_ms
    extra = sim.fault("latency", endpoint)
    if extra is not None:
        delay += float(extra.params.get("ms", 0))
    if delay > 0:
        epoch = sim.epoch
        await asyncio.sleep(delay / 1000)
        if sim.epoch is not epoch:  # reset while this request slept: it belongs to a finished test
            raise asyncio.CancelledError
    if sim.fault("error_500", endpoint) is not None:
        sim.count(endpoint, "fault_500")
        return error(500, "Internal server error")
    if sim.fault("rate_429", endpoint) is not None or not sim.bucket(channel, endpoint).take():
        sim.count(endpoint, "rate_limited")
        return error(429, limits.RATE_LIMIT_MESSAGE)
    return channel


async def _body(request: web.Request, endpoint: str) -> Any:
    """The parsed body, or a 400/413 response."""
    sim = request.app[SIM_KEY]
    raw = await request.read()
    if len(raw) > limits.REQUEST_BODY_MAX:
        sim.count(endpoint, "too_large")
        return error(413, "Request entity too large")
    try:
        body = json.loads(raw)
    except ValueError:
        sim.count(endpoint, "invalid")
        return error(400, "The request body could not be parsed as JSON")
    details = validate_request(endpoint, body)
    if details:
        sim.count(endpoint, "invalid")
        return error(400, f"The request body has {len(details)} error(s)", details)
    return body


async def _lost_answer(request: web.Request, endpoint: str, response: web.Response) -> web.StreamResponse:
    """After recording: maybe drop the connection, answer 500 or stall past the client's timeout."""
    sim = request.app[SIM_KEY]
    fault = sim.fault("lost_answer", endpoint)
    if fault is None:
        return response
    sim.count(endpoint, "lost_answer")
    mode = fault.params.get("mode", "drop")
    if mode == "500":
        return error(500, "Internal server error")
    if mode == "delay":
        await asyncio.sleep(float(fault.params.get("delay_ms", 30_000)) / 1000)
        return response
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # aiohttp ends the handler quietly; the client sees a dropped connection


async def send(request: web.Request, endpoint: str) -> web.StreamResponse:
    """Push or multicast, with retry-key semantics."""
    sim = request.app[SIM_KEY]
    gated = await _gate(request, endpoint)
    if isinstance(gated, web.Response):
        return gated
    channel = gated
    body = await _body(request, endpoint)
    if isinstance(body, web.Response):
        return body
    retry_key = request.headers.get("X-Line-Retry-Key")
    if retry_key is not None:
        try:
            uuid.UUID(retry_key)
        except ValueError:
            sim.count(endpoint, "invalid")
            return error(400, "The value of the X-Line-Retry-Key header is invalid")
        accepted = channel.accepted(retry_key)
        if accepted is not None:
            sim.count(endpoint, "duplicate")
            payload: dict[str, Any] = {"message": "The retry key is already accepted"}
            payload.update(accepted.body)
            return json_response(409, payload, {"x-line-accepted-request-id": accepted.request_id})
    recipients = [body["to"]] if endpoint == "push" else list(dict.fromkeys(body["to"]))
    reachable = [user for user in recipients if user not in sim.blocked]
    if channel.would_exceed(len(reachable)):
        sim.count(endpoint, "quota_exhausted")
        return error(429, limits.MONTHLY_LIMIT_MESSAGE)
    request_id = _request_id()
    channel.charge(len(reachable))
    if reachable:
        sim.record(channel, endpoint, reachable, body["messages"], retry_key, request_id)
    sim.count(endpoint, "accepted" if reachable else "blocked")
    answer: dict[str, Any] = {}
    if endpoint == "push":
        answer = {"sentMessages": [{"id": str(sim.rng.getrandbits(60))} for _ in body["messages"]]}
    if retry_key is not None:
        channel.retry_keys[retry_key] = Accepted(request_id, answer, time.time())
    return await _lost_answer(request, endpoint, json_response(200, answer, {"x-line-request-id": request_id}))


async def push(request: web.Request) -> web.StreamResponse:
    return await send(request, "push")


async def multicast(request: web.Request) -> web.StreamResponse:
    return await send(request, "multicast")


async def reply(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    gated = await _gate(request, "reply")
    if isinstance(gated, web.Response):
        return gated
    if "X-Line-Retry-Key" in request.headers:
        sim.count("reply", "invalid")
        return error(400, "The retry key header is not supported for this endpoint")
    body = await _body(request, "reply")
    if isinstance(body, web.Response):
        return body
    user = sim.use_reply_token(body["replyToken"])
    if user is None:
        sim.count("reply", "invalid_token")
        return error(400, "Invalid reply token")
    request_id = _request_id()
    entry = sim.record(gated, "reply", [user], body["messages"], None, request_id)
    entry["reply_token"] = body["replyToken"]  # which event was answered (benchmarks match on it)
    sim.count("reply", "accepted")
    answer = {"sentMessages": [{"id": str(sim.rng.getrandbits(60))} for _ in body["messages"]]}
    return await _lost_answer(request, "reply", json_response(200, answer, {"x-line-request-id": request_id}))


async def profile(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    gated = await _gate(request, "profile")
    if isinstance(gated, web.Response):
        return gated
    user_id = request.match_info["user_id"]
    if user_id in sim.blocked or not user_id.startswith("U"):
        sim.count("profile", "not_found")
        return error(404, "Not found")
    sim.count("profile", "accepted")
    return json_response(200, {"userId": user_id, "displayName": sim.display_name(user_id),
                               "pictureUrl": f"https://profile.line-scdn.net/{user_id}", "language": "ja"},
                         {"x-line-request-id": _request_id()})


async def quota(request: web.Request) -> web.StreamResponse:
    gated = await _gate(request, "quota")
    if isinstance(gated, web.Response):
        return gated
    request.app[SIM_KEY].count("quota", "accepted")
    limit = gated.quota_limit
    payload = {"type": "none"} if limit is None else {"type": "limited", "value": limit}
    return json_response(200, payload, {"x-line-request-id": _request_id()})


async def consumption(request: web.Request) -> web.StreamResponse:
    gated = await _gate(request, "consumption")
    if isinstance(gated, web.Response):
        return gated
    request.app[SIM_KEY].count("consumption", "accepted")
    return json_response(200, {"totalUsage": gated.consumption()}, {"x-line-request-id": _request_id()})


async def bot_info(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    gated = await _gate(request, "info")
    if isinstance(gated, web.Response):
        return gated
    sim.count("info", "accepted")
    info = {"userId": sim.bot_user_id, "basicId": "@stepline", "displayName": f"Stepline {gated.name}",
            "chatMode": "bot", "markAsReadMode": "auto"}
    return json_response(200, info, {"x-line-request-id": _request_id()})


def create_app(options: SimOptions | None = None) -> web.Application:
    """The simulator as an aiohttp application (API + ``/_sim/`` control API)."""
    from linesim import control, login, richmenus

    options = options or SimOptions()
    warm_up()
    app = web.Application(client_max_size=limits.REQUEST_BODY_MAX + 1024)
    app[OPTIONS_KEY] = options
    app[SIM_KEY] = options.build()
    app.router.add_post("/v2/bot/message/push", push)
    app.router.add_post("/v2/bot/message/multicast", multicast)
    app.router.add_post("/v2/bot/message/reply", reply)
    app.router.add_get("/v2/bot/profile/{user_id}", profile)
    app.router.add_get("/v2/bot/message/quota", quota)
    app.router.add_get("/v2/bot/message/quota/consumption", consumption)
    app.router.add_get("/v2/bot/info", bot_info)
    control.register(app)
    login.register(app)
    richmenus.register(app)
    return app

