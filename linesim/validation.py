"""Request body validation against LINE's OpenAPI spec, plus the limits the spec does not encode.

OpenAPI ``discriminator`` is ignored by JSON Schema validators, so a message of type ``text``
would only be checked against the base ``Message``. We rewrite every reference to a
discriminated base into an if/then dispatch on ``type`` (keeping the base itself for the
subtypes' ``allOf``), compile once, and cache a validator per message type. Plain text
messages take a hand-written fast path: the simulator sinks thousands of pushes per second.
"""

from __future__ import annotations

import copy
import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from app.line import limits

# LINE's official spec (Apache-2.0), vendored unmodified from shared/line-openapi: see openapi/SOURCE.md
SPEC_PATH = Path(__file__).resolve().parent / "openapi" / "messaging-api.yml"
_PREFIX = "#/components/schemas/"
_ENVELOPES = {"push": "PushMessageRequest", "multicast": "MulticastRequest", "reply": "ReplyMessageRequest"}

Detail = dict[str, str]


def _spec_path() -> Path:
    if not SPEC_PATH.exists():
        raise FileNotFoundError(f"LINE OpenAPI spec not found at {SPEC_PATH}")
    return SPEC_PATH


def _rewrite(node: Any, schemas: dict[str, Any], bases: set[str], owner_bases: set[str], in_allof: bool) -> Any:
    """Point refs at ``$defs``; refs to discriminated bases go to their dispatcher, except a
    subtype's own ``allOf`` ref to its base (which would otherwise recurse forever)."""
    if isinstance(node, list):
        return [_rewrite(item, schemas, bases, owner_bases, in_allof) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_PREFIX):
            name = value[len(_PREFIX):]
            dispatch = name in bases and not (in_allof and name in owner_bases)
            out[key] = f"#/$defs/{name}__dispatch" if dispatch else f"#/$defs/{name}"
        elif key in ("discriminator", "externalDocs", "description", "example", "format"):
            continue
        elif key == "allOf":
            out[key] = [_rewrite(item, schemas, bases, owner_bases, True) for item in value]
        else:
            out[key] = _rewrite(value, schemas, bases, owner_bases, False)
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _build_defs() -> dict[str, Any]:
    spec = yaml.load(_spec_path().read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schemas: dict[str, Any] = spec["components"]["schemas"]
    mappings = {name: s["discriminator"] for name, s in schemas.items() if isinstance(s, dict) and "discriminator" in s}
    owners: dict[str, set[str]] = {}
    for base, disc in mappings.items():
        for target in disc.get("mapping", {}).values():
            owners.setdefault(target[len(_PREFIX):], set()).add(base)
    defs = {name: _rewrite(s, schemas, set(mappings), owners.get(name, set()), False) for name, s in schemas.items()}
    for base, disc in mappings.items():
        prop, mapping = disc["propertyName"], disc.get("mapping", {})
        branches: list[dict[str, Any]] = [{"$ref": f"#/$defs/{base}"}]
        branches += [
            {"if": {"properties": {prop: {"const": key}}, "required": [prop]},
             "then": {"$ref": f"#/$defs/{target[len(_PREFIX):]}"}}
            for key, target in mapping.items()
        ]
        defs[f"{base}__dispatch"] = {"allOf": branches, "properties": {prop: {"enum": sorted(mapping)}}}
    return defs


@lru_cache(maxsize=1)
def _defs() -> dict[str, Any]:
    return _build_defs()


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$defs": _defs(), "$ref": f"#/$defs/{name}"})


@lru_cache(maxsize=8)
def _envelope_validator(endpoint: str) -> Draft202012Validator:
    """The request schema with ``messages`` items left open: each message is checked on its own."""
    schema = copy.deepcopy(_defs()[_ENVELOPES[endpoint]])
    schema["properties"]["messages"]["items"] = {"type": "object"}
    return Draft202012Validator({"$defs": _defs(), **schema})


def warm_up() -> None:
    """Compile everything up front so the first request is not slow."""
    for endpoint in _ENVELOPES:
        _envelope_validator(endpoint)
    for message_type in _defs()["Message__dispatch"]["properties"]["type"]["enum"]:
        _message_validator(message_type)


_TYPE_TO_SCHEMA: dict[str, str] = {}


def _message_validator(message_type: str) -> Draft202012Validator | None:
    if not _TYPE_TO_SCHEMA:
        for branch in _defs()["Message__dispatch"]["allOf"][1:]:
            _TYPE_TO_SCHEMA[branch["if"]["properties"]["type"]["const"]] = branch["then"]["$ref"].rsplit("/", 1)[1]
    name = _TYPE_TO_SCHEMA.get(message_type)
    return _validator(name) if name else None


def _property(prefix: str, path: Any) -> str:
    out = prefix
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_message(error: ValidationError) -> str:
    """LINE-like wording for the common failures."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator in ("minItems", "maxItems"):
        return f"Size must be between {schema.get('minItems', 0)} and {schema.get('maxItems', 'unbounded')}"
    if error.validator in ("minLength", "maxLength"):
        return f"Length must be between {schema.get('minLength', 0)} and {schema.get('maxLength', 'unbounded')}"
    if error.validator == "required":
        return f"must be specified: {error.message}"
    return error.message


def _schema_details(validator: Draft202012Validator, instance: Any, prefix: str) -> list[Detail]:
    details: list[Detail] = []
    seen: set[tuple[str, str]] = set()
    for error in validator.iter_errors(instance):
        leaves = [e for e in error.context] if error.validator in ("if", "then") and error.context else [error]
        for leaf in leaves:
            item = (_line_message(leaf), _property(prefix, leaf.absolute_path))
            if item not in seen:
                seen.add(item)
                details.append({"message": item[0], "property": item[1]})
    return details


def _limit_details(node: Any, path: str, in_flex: bool, details: list[Detail]) -> None:
    """Limits LINE enforces that the spec leaves out: labels, postback data (anywhere in a message)."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            _limit_details(item, f"{path}[{index}]", in_flex, details)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    label = node.get("label")
    if not in_flex and isinstance(label, str) and len(label) > limits.LABEL_MAX:
        details.append({"message": f"Length must be between 0 and {limits.LABEL_MAX}", "property": f"{path}.label"})
    data = node.get("data")
    if kind == "postback" and isinstance(data, str) and len(data) > limits.POSTBACK_DATA_MAX:
        details.append({"message": f"Length must be between 0 and {limits.POSTBACK_DATA_MAX}",
                        "property": f"{path}.data"})
    for key, value in node.items():
        if isinstance(value, (dict, list)):
            _limit_details(value, f"{path}.{key}", in_flex or kind == "flex", details)


def _cache_key(message: dict[str, Any]) -> str:
    """Schema validity of a text message does not depend on its text: personalised texts share a key."""
    if message.get("type") in ("text", "textV2") and isinstance(message.get("text"), str):
        message = {**message, "text": ""}
    return json.dumps(message, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=4096)
def _cached_message_details(key: str) -> tuple[tuple[str, str], ...]:
    message = json.loads(key)
    kind = message.get("type")
    validator = _message_validator(kind) if isinstance(kind, str) else None
    if validator is None:
        return ((f"Unknown message type: {kind!r}", ".type"),)
    details = _schema_details(validator, message, "")
    quick = message.get("quickReply")
    items = quick.get("items") if isinstance(quick, dict) else None
    if isinstance(items, list) and len(items) > limits.QUICK_REPLY_MAX and not details:
        details.append({"message": f"Size must be between 0 and {limits.QUICK_REPLY_MAX}",
                        "property": "quickReply.items"})
    _limit_details(message, "", kind == "flex", details)
    return tuple((d["message"], d["property"]) for d in details)


def _text_too_long(prefix: str) -> Detail:
    return {"message": f"Length must be between 0 and {limits.TEXT_MAX_UTF16}", "property": f"{prefix}.text"}


def validate_message(message: Any, prefix: str) -> list[Detail]:
    """Errors for one message object (empty list when valid)."""
    if not isinstance(message, dict):
        return [{"message": "must be an object", "property": prefix}]
    text = message.get("text")
    text_ok = not isinstance(text, str) or len(text) <= limits.TEXT_MAX_UTF16 // 2 \
        or limits.utf16_units(text) <= limits.TEXT_MAX_UTF16
    if message.get("type") == "text" and isinstance(text, str) and len(message) == 2:  # fast path: {"type", "text"}
        return [] if text_ok else [_text_too_long(prefix)]
    details = []
    for msg, prop in _cached_message_details(_cache_key(message)):
        sep = "" if not prop or prop.startswith((".", "[")) else "."
        item = {"message": msg, "property": f"{prefix}{sep}{prop}"}
        if item not in details:
            details.append(item)
    if not text_ok and message.get("type") in ("text", "textV2"):
        details.append(_text_too_long(prefix))
    return details


def _envelope_is_simple(endpoint: str, body: dict[str, Any]) -> bool:
    """Hand check of the common envelope shapes; anything unusual goes through the schema."""
    messages = body.get("messages")
    if not (isinstance(messages, list) and 1 <= len(messages) <= limits.MAX_MESSAGES):
        return False
    if not isinstance(body.get("notificationDisabled", False), bool):
        return False
    if endpoint == "reply":
        allowed = {"replyToken", "messages", "notificationDisabled"}
        return body.keys() <= allowed and isinstance(body.get("replyToken"), str)
    if not body.keys() <= {"to", "messages", "notificationDisabled"}:
        return False
    to = body.get("to")
    if endpoint == "push":
        return isinstance(to, str)
    return isinstance(to, list) and 1 <= len(to) <= limits.MULTICAST_MAX and all(isinstance(u, str) for u in to)


def validate_request(endpoint: str, body: Any) -> list[Detail]:
    """Errors for a push / multicast / reply body (empty list when valid)."""
    if not isinstance(body, dict):
        return [{"message": "The request body must be a JSON object", "property": ""}]
    messages = body.get("messages")
    to = body.get("to")
    simple = _envelope_is_simple(endpoint, body)
    details = [] if simple else _schema_details(_envelope_validator(endpoint), body, "")
    if endpoint == "multicast" and isinstance(to, list) and len(to) > limits.MULTICAST_MAX and not details:
        details.append({"message": f"Size must be between 1 and {limits.MULTICAST_MAX}", "property": "to"})
    if isinstance(messages, list) and len(messages) > limits.MAX_MESSAGES and not details:
        details.append({"message": f"Size must be between 1 and {limits.MAX_MESSAGES}", "property": "messages"})
    if isinstance(messages, list):
        for index, message in enumerate(messages):
            details.extend(validate_message(message, f"messages[{index}]"))
    return details


def validate_schema(schema_name: str, body: Any) -> list[Detail]:
    """A request body checked against one named schema of the spec (rich menu requests)."""
    return _schema_details(_validator(schema_name), body, "")
