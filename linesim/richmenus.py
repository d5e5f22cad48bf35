"""Rich menu endpoints (create/validate, image upload on the data host, aliases, links, default),
checked against LINE's OpenAPI schemas and the limits the schemas do not encode."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from linesim.server import SIM_KEY, _gate, error, json_response
from linesim.state import Channel
from linesim.validation import validate_schema

MAX_AREAS = 20
MAX_IMAGE_BYTES = 1024 * 1024
_IMAGE_TYPES = ("image/png", "image/jpeg")


def _limits(body: dict[str, Any]) -> list[dict[str, str]]:
    """What LINE checks beyond the schema: sizes, area count, bounds inside the image."""
    details: list[dict[str, str]] = []
    size = body.get("size") or {}
    width, height = size.get("width", 0), size.get("height", 0)
    if not (800 <= width <= 2500 and height >= 250 and width / max(height, 1) >= 1.45):
        details.append({"message": "invalid size", "property": "size"})
    areas = body.get("areas") or []
    if not 1 <= len(areas) <= MAX_AREAS:
        details.append({"message": f"Size must be between 1 and {MAX_AREAS}", "property": "areas"})
    for i, area in enumerate(areas):
        b = area.get("bounds") or {}
        if b.get("x", 0) + b.get("width", 0) > width or b.get("y", 0) + b.get("height", 0) > height:
            details.append({"message": "bounds out of the image", "property": f"areas[{i}].bounds"})
    for key in ("size", "selected", "name", "chatBarText", "areas"):
        if key not in body:
            details.append({"message": "must be specified", "property": key})
    return details


async def _checked(request: web.Request, endpoint: str, schema: str) -> tuple[Channel, Any] | web.Response:
    sim = request.app[SIM_KEY]
    gated = await _gate(request, endpoint)
    if isinstance(gated, web.Response):
        return gated
    try:
        body = json.loads(await request.read())
    except ValueError:
        sim.count(endpoint, "invalid")
        return error(400, "The request body could not be parsed as JSON")
    details = validate_schema(schema, body) if isinstance(body, dict) else [{"message": "expected an object",
                                                                              "property": ""}]
    if not details and schema == "RichMenuRequest":
        details = _limits(body)
    if details:
        sim.count(endpoint, "invalid")
        return error(400, "The request body has 1 error(s)" if len(details) == 1 else
                     f"The request body has {len(details)} error(s)", details)
    return gated, body


async def create(request: web.Request) -> web.StreamResponse:
    checked = await _checked(request, "richmenu", "RichMenuRequest")
    if isinstance(checked, web.Response):
        return checked
    channel, body = checked
    menu_id = "richmenu-" + uuid.uuid4().hex
    channel.rich_menus.menus[menu_id] = body
    request.app[SIM_KEY].count("richmenu", "accepted")
    return json_response(200, {"richMenuId": menu_id})


async def validate(request: web.Request) -> web.StreamResponse:
    checked = await _checked(request, "richmenu_validate", "RichMenuRequest")
    if isinstance(checked, web.Response):
        return checked
    request.app[SIM_KEY].count("richmenu_validate", "accepted")
    return json_response(200, {})


def _menu(channel: Channel, menu_id: str) -> bool:
    return menu_id in channel.rich_menus.menus


async def upload_image(request: web.Request) -> web.StreamResponse:
    """``POST /v2/bot/richmenu/{id}/content`` on the data host: PNG or JPEG, ≤ 1 MB, once per menu."""
    sim = request.app[SIM_KEY]
    gated = await _gate(request, "richmenu_content")
    if isinstance(gated, web.Response):
        return gated
    menu_id = request.match_info["menu_id"]
    if not _menu(gated, menu_id):
        return error(404, "Not found")
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    raw = await request.read()
    if content_type not in _IMAGE_TYPES:
        sim.count("richmenu_content", "invalid")
        return error(415, "Unsupported Media Type")
    if len(raw) > MAX_IMAGE_BYTES or not raw:
        sim.count("richmenu_content", "invalid")
        return error(400, "The image size must be at most 1 MB")
    if menu_id in gated.rich_menus.images:
        return error(400, "An image has already been uploaded to the rich menu")
    gated.rich_menus.images[menu_id] = (content_type, len(raw))
    sim.count("richmenu_content", "accepted")
    return json_response(200, {})


async def create_alias(request: web.Request) -> web.StreamResponse:
    checked = await _checked(request, "richmenu_alias", "CreateRichMenuAliasRequest")
    if isinstance(checked, web.Response):
        return checked
    channel, body = checked
    if not _menu(channel, body["richMenuId"]):
        return error(400, "richmenu not found")
    if body["richMenuAliasId"] in channel.rich_menus.aliases:
        return error(400, "conflict richmenu alias id")
    if body["richMenuId"] not in channel.rich_menus.images:
        return error(400, "must upload richmenu image before applying it to user")
    channel.rich_menus.aliases[body["richMenuAliasId"]] = body["richMenuId"]
    return json_response(200, {})


async def update_alias(request: web.Request) -> web.StreamResponse:
    checked = await _checked(request, "richmenu_alias", "UpdateRichMenuAliasRequest")
    if isinstance(checked, web.Response):
        return checked
    channel, body = checked
    alias = request.match_info["alias_id"]
    if alias not in channel.rich_menus.aliases:
        return error(404, "richmenu alias not found")
    if not _menu(channel, body["richMenuId"]) or body["richMenuId"] not in channel.rich_menus.images:
        return error(400, "richmenu not found")
    channel.rich_menus.aliases[alias] = body["richMenuId"]
    return json_response(200, {})


def _usable(channel: Channel, menu_id: str) -> web.Response | None:
    if not _menu(channel, menu_id):
        return error(404, "Not found")
    if menu_id not in channel.rich_menus.images:
        return error(400, "must upload richmenu image before applying it to user")
    return None


async def link_user(request: web.Request) -> web.StreamResponse:
    gated = await _gate(request, "richmenu_link")
    if isinstance(gated, web.Response):
        return gated
    menu_id, user_id = request.match_info["menu_id"], request.match_info["user_id"]
    refused = _usable(gated, menu_id)
    if refused is not None:
        return refused
    gated.rich_menus.links[user_id] = menu_id
    request.app[SIM_KEY].count("richmenu_link", "accepted")
    return json_response(200, {})


async def unlink_user(request: web.Request) -> web.StreamResponse:
    gated = await _gate(request, "richmenu_link")
    if isinstance(gated, web.Response):
        return gated
    gated.rich_menus.links.pop(request.match_info["user_id"], None)
    return json_response(200, {})


async def bulk_link(request: web.Request) -> web.StreamResponse:
    checked = await _checked(request, "richmenu_link", "RichMenuBulkLinkRequest")
    if isinstance(checked, web.Response):
        return checked
    channel, body = checked
    refused = _usable(channel, body["richMenuId"])
    if refused is not None:
        return refused
    for user_id in body["userIds"]:
        channel.rich_menus.links[user_id] = body["richMenuId"]
    return web.Response(status=202)


async def set_default(request: web.Request) -> web.StreamResponse:
    gated = await _gate(request, "richmenu_default")
    if isinstance(gated, web.Response):
        return gated
    refused = _usable(gated, request.match_info["menu_id"])
    if refused is not None:
        return refused
    gated.rich_menus.default = request.match_info["menu_id"]
    return json_response(200, {})


async def state(request: web.Request) -> web.Response:
    """``GET /_sim/richmenus?channel=``: what LINE now holds (tests and the demo read it)."""
    sim = request.app[SIM_KEY]
    channel = sim.channels.get(request.query.get("channel", "default"))
    if channel is None:
        return error(404, "no such channel")
    return json_response(200, channel.rich_menus.snapshot())


def register(app: web.Application) -> None:
    app.router.add_post("/v2/bot/richmenu", create)
    app.router.add_post("/v2/bot/richmenu/validate", validate)
    app.router.add_post("/v2/bot/richmenu/{menu_id}/content", upload_image)
    app.router.add_post("/v2/bot/richmenu/alias", create_alias)
    app.router.add_post("/v2/bot/richmenu/alias/{alias_id}", update_alias)
    app.router.add_post("/v2/bot/richmenu/bulk/link", bulk_link)
    app.router.add_post("/v2/bot/user/{user_id}/richmenu/{menu_id}", link_user)
    app.router.add_delete("/v2/bot/user/{user_id}/richmenu", unlink_user)
    app.router.add_post("/v2/bot/user/all/richmenu/{menu_id}", set_default)
    app.router.add_get("/_sim/richmenus", state)
