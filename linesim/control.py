"""``/_sim/`` control API: inspect deliveries and stats, reconfigure limits and faults, manage
users and reply tokens, and send signed webhooks. Not part of LINE; JSON in, JSON out."""

from __future__ import annotations

import json
import random
from typing import Any

from aiohttp import web

from linesim import webhooks
from linesim.server import OPTIONS_KEY, SIM_KEY, error, json_response
from linesim.state import FAULT_KINDS, Fault, Simulator


async def _json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    data = json.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text='{"message": "expected a JSON object"}', content_type="application/json")
    return data


def _channel_summary(sim: Simulator) -> dict[str, Any]:
    return {name: {"quota_limit": c.quota_limit, "usage": c.usage, "external_usage": c.external_usage,
                   "consumption": c.consumption(), "retry_keys": len(c.retry_keys)}
            for name, c in sim.channels.items()}


async def deliveries(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    to = request.query.get("to")
    items = list(sim.by_recipient.get(to, ())) if to else sim.deliveries
    for key in ("channel", "endpoint"):
        if key in request.query:
            items = [d for d in items if d[key] == request.query[key]]
    limit = int(request.query.get("limit", 0))
    selected = items[-limit:] if limit else items
    return json_response(200, {"count": len(items), "deliveries": selected})


async def stats(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    return json_response(200, {"endpoints": {k: dict(v) for k, v in sim.stats.items()},
                               "deliveries": len(sim.deliveries), "channels": _channel_summary(sim)})


async def reset(request: web.Request) -> web.Response:
    sim = request.app[SIM_KEY]
    sim.__dict__.update(request.app[OPTIONS_KEY].build().__dict__)  # in place: handlers keep their reference
    return json_response(200, {"ok": True})


def _apply_faults(sim: Simulator, faults: dict[str, Any]) -> None:
    unknown = set(faults) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; expected {list(FAULT_KINDS)}")
    sim.faults = {kind: Fault.parse(spec) for kind, spec in faults.items() if spec}


async def config(request: web.Request) -> web.Response:
    """Change latency, faults, rates, channels, quota limits and external usage at run time."""
    sim = request.app[SIM_KEY]
    data = await _json(request)
    try:
        if "seed" in data:
            sim.rng = random.Random(data["seed"])
        if "latency_ms" in data:
            sim.latency_ms = float(data["latency_ms"])
        if "faults" in data:
            _apply_faults(sim, data["faults"] or {})
        if "reply_token_ttl_s" in data:
            sim.reply_token_ttl_s = float(data["reply_token_ttl_s"])
        for key, rate_class in (("push_rate", "default"), ("multicast_rate", "multicast")):
            if key in data:
                sim.rates[rate_class] = float(data[key])
                for channel in sim.channels.values():
                    channel.buckets.clear()
        for name, token in (data.get("tokens") or {}).items():
            sim.add_channel(name, token)
        target = sim.channels.get(data.get("channel", "default"))
        if target is None:
            return error(404, f"unknown channel {data.get('channel')!r}")
        if "quota_limit" in data:
            target.quota_limit = None if data["quota_limit"] is None else int(data["quota_limit"])
        if "external_usage" in data:
            target.consumption()  # roll the month first so the value sticks
            target.external_usage = int(data["external_usage"])
        if "add_external_usage" in data:
            target.consumption()
            target.external_usage += int(data["add_external_usage"])
    except (TypeError, ValueError, KeyError) as exc:
        return error(400, f"invalid config: {exc}")
    return json_response(200, {"latency_ms": sim.latency_ms, "rates": sim.rates, "faults": sorted(sim.faults),
                               "channels": _channel_summary(sim)})


async def users(request: web.Request) -> web.Response:
    """``{"display_names": {id: name}, "blocked": [ids], "unblocked": [ids]}``."""
    sim = request.app[SIM_KEY]
    data = await _json(request)
    sim.display_names.update(data.get("display_names") or {})
    sim.blocked.update(data.get("blocked") or [])
    sim.blocked.difference_update(data.get("unblocked") or [])
    return json_response(200, {"blocked": sorted(sim.blocked), "display_names": len(sim.display_names)})


async def reply_tokens(request: web.Request) -> web.Response:
    """Issue ``count`` fresh reply tokens for ``userId`` (as if events had arrived)."""
    sim = request.app[SIM_KEY]
    data = await _json(request)
    tokens = [sim.issue_reply_token(data["userId"]) for _ in range(int(data.get("count", 1)))]
    return json_response(200, {"replyTokens": tokens})


async def webhook(request: web.Request) -> web.Response:
    """Build LINE-shaped events, sign them, POST them to the bot; answer statuses and event ids."""
    sim = request.app[SIM_KEY]
    data = await _json(request)
    url = data.get("url") or sim.webhook_url
    secret = data.get("channel_secret") or sim.channel_secret
    if not url or not secret:
        return error(400, "url and channel_secret are required (or start with --webhook-url/--channel-secret)")
    try:
        events = webhooks.events_from_specs(data.get("events") or [], sim.issue_reply_token)
    except KeyError as exc:
        return error(400, f"event spec is missing {exc}")
    statuses = await webhooks.deliver(url, secret, events, data.get("destination") or sim.bot_user_id,
                                      redeliver=int(data.get("redeliver", 0)), duplicate=int(data.get("duplicate", 0)),
                                      timeout_s=float(data.get("timeout_s", 10.0)))
    return json_response(200, {"status": statuses[0], "statuses": statuses,
                               "event_ids": [e["webhookEventId"] for e in events],
                               "reply_tokens": [e.get("replyToken") for e in events], "events": events})


async def health(request: web.Request) -> web.Response:
    return json_response(200, {"ok": True})


def register(app: web.Application) -> None:
    app.router.add_get("/_sim/deliveries", deliveries)
    app.router.add_get("/_sim/stats", stats)
    app.router.add_get("/_sim/health", health)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_post("/_sim/config", config)
    app.router.add_post("/_sim/users", users)
    app.router.add_post("/_sim/reply_tokens", reply_tokens)
    app.router.add_post("/_sim/webhook", webhook)
