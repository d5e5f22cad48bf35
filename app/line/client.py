"""The one edge to LINE's Messaging API (line-bot-sdk v3), turning every answer into an ``Outcome``.

Send methods never raise: callers (the sender job) decide retries from the outcome, always with
the same retry key, so urllib3's own retries are off and every call has an explicit timeout.
Tokens and bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    CreateRichMenuAliasRequest,
    MessagingApi,
    MessagingApiBlob,
    MulticastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    RichMenuBulkLinkRequest,
    RichMenuRequest,
    UpdateRichMenuAliasRequest,
)

from app.line import limits
from app.line.wire import WireBodies
from app.metrics.recorder import record_line_call

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What a send means for the delivery: sent, retry later, hold for quota, or give up."""

    ACCEPTED = "accepted"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    TRANSIENT = "transient"
    REJECTED = "rejected"


@dataclass(frozen=True)
class SendResult:
    """One send attempt: ``request_id`` is LINE's (the original one on a 409), ``message`` LINE's error."""

    outcome: Outcome
    status: int | None
    request_id: str | None = None
    message: str | None = None
    retry_after: float | None = None

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


class LineApiError(Exception):
    """A non-send call (quota, consumption) failed; ``status`` is None for network errors."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def error_message(body: Any) -> str | None:
    """LINE's error ``message`` with its ``details`` joined (``property: message``)."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return body.strip()[:500] or None
    if not isinstance(body, dict):
        return None
    message = str(body.get("message") or "")
    details = [f"{d.get('property') or '-'}: {d.get('message')}"
               for d in body.get("details") or [] if isinstance(d, dict)]
    return "; ".join([message, *details]) if details else (message or None)


def classify(status: int | None, body: Any = None, exc: BaseException | None = None) -> Outcome:
    """2xx and 409 (retry key already accepted) = accepted; 429 monthly = quota; 429 = rate;
    5xx, timeouts and connection errors = transient; any other 4xx = rejected."""
    if exc is not None and not status:
        return Outcome.TRANSIENT
    if status is None or status == 0:
        return Outcome.TRANSIENT
    if 200 <= status < 300 or status == 409:
        return Outcome.ACCEPTED
    if status == 429:
        message = (error_message(body) or "").lower()
        return Outcome.QUOTA_EXHAUSTED if "monthly limit" in message else Outcome.RATE_LIMITED
    if status >= 500:
        return Outcome.TRANSIENT
    return Outcome.REJECTED


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:  # plain dicts from the SDK are case-sensitive
        value = next((v for k, v in dict(headers).items() if k.lower() == name), None)
    return str(value) if value is not None else None


def _retry_after(headers: Any) -> float | None:
    value = _header(headers, "retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _user_id(value: Any) -> str:
    """A recipient or reply token as the typed request checks it: a non-empty string."""
    if type(value) is not str or not value:
        raise ValueError("a recipient or reply token must be a non-empty string")
    return value


_BODIES = WireBodies()


class LineClient:
    """One ``ApiClient`` (one urllib3 pool) per channel and process; thread-safe like urllib3."""

    def __init__(self, base_url: str, access_token: str, *, pool_size: int = 100,
                 connect_timeout: float = 3.0, read_timeout: float = 10.0, data_base_url: str | None = None) -> None:
        configuration = Configuration(host=base_url.rstrip("/"), access_token=access_token)
        configuration.retries = False  # retries happen in one place (the sender), with the same retry key
        configuration.connection_pool_maxsize = pool_size
        self.base_url = base_url
        self.timeout = (connect_timeout, read_timeout)
        self._api_client = ApiClient(configuration)
        self._api = MessagingApi(self._api_client)
        # uploads (rich menu images) go to the data host; a small pool, created on first use
        self._data_base_url = (data_base_url or base_url).rstrip("/")
        self._access_token = access_token
        self._blob: MessagingApiBlob | None = None

    def close(self) -> None:
        """Release the pool's sockets (``ApiClient.close`` alone does not)."""
        self._api_client.rest_client.pool_manager.clear()
        self._api_client.close()

    def _send(self, endpoint: str, call: Any, *args: Any, **kwargs: Any) -> SendResult:
        started = time.perf_counter()
        try:
            response = call(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            status = exc.status or None
            outcome = classify(status, exc.body, exc)
            request_id = _header(exc.headers, "x-line-accepted-request-id") if status == 409 else None
            request_id = request_id or _header(exc.headers, "x-line-request-id")
            message = error_message(exc.body) if status and status != 409 else (exc.reason if not status else None)
            result = SendResult(outcome, status, request_id, message, _retry_after(exc.headers))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            result = SendResult(Outcome.TRANSIENT, None, None, f"{type(exc).__name__}: {exc}"[:300])
        else:
            headers = response.headers
            result = SendResult(Outcome.ACCEPTED, response.status_code, _header(headers, "x-line-request-id"))
        log.debug("line %s: %s status=%s request_id=%s", endpoint, result.outcome, result.status, result.request_id)
        record_line_call(endpoint, result.outcome.value, time.perf_counter() - started)
        return result

    def _post(self, endpoint: str, path: str, body: dict[str, Any], retry_key: str | None = None) -> SendResult:
        """POST a body from :class:`WireBodies` through the SDK's client (its pool, auth and errors);
        the answer's status and headers are all a send needs, so its body is not parsed."""
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if retry_key is not None:
            headers["X-Line-Retry-Key"] = retry_key
        return self._send(endpoint, self._api_client.call_api, path, "POST", header_params=headers, body=body,
                          response_types_map={}, auth_settings=["Bearer"])

    def push(self, to: str, messages: list[dict[str, Any]], retry_key: str) -> SendResult:
        """Push to one user with ``X-Line-Retry-Key`` (repeat the same key when retrying)."""
        try:
            body = _BODIES.body(PushMessageRequest, {"to": _user_id(to)}, messages)
        except (ValueError, TypeError) as exc:
            return SendResult(Outcome.REJECTED, None, None, f"invalid message: {exc}"[:500])
        return self._post("push", "/v2/bot/message/push", body, retry_key)

    def multicast(self, to: list[str], messages: list[dict[str, Any]], retry_key: str) -> SendResult:
        """Multicast to 1–500 users (one request; quota counts each recipient)."""
        if not 1 <= len(to) <= limits.MULTICAST_MAX:
            return SendResult(Outcome.REJECTED, None, None, f"multicast needs 1..{limits.MULTICAST_MAX} recipients")
        if not all(type(user_id) is str and user_id for user_id in to):
            return SendResult(Outcome.REJECTED, None, None, "multicast recipients must be user id strings")
        try:  # the SDK validates the messages with the first recipient (each id through pydantic: ~1 µs)
            body = _BODIES.body(MulticastRequest, {"to": list(to)}, messages, checked={"to": to[:1]})
        except (ValueError, TypeError) as exc:
            return SendResult(Outcome.REJECTED, None, None, f"invalid message: {exc}"[:500])
        return self._post("multicast", "/v2/bot/message/multicast", body, retry_key)

    def reply(self, reply_token: str, messages: list[dict[str, Any]]) -> SendResult:
        """Reply with the event's token (free; LINE accepts no retry key here)."""
        try:
            body = _BODIES.body(ReplyMessageRequest, {"replyToken": _user_id(reply_token)}, messages)
        except (ValueError, TypeError) as exc:
            return SendResult(Outcome.REJECTED, None, None, f"invalid message: {exc}"[:500])
        return self._post("reply", "/v2/bot/message/reply", body)

    def profile(self, user_id: str) -> dict[str, Any] | None:
        """The user's profile (camelCase, as LINE sends it), or None: best-effort, never raises."""
        try:
            return dict(self._fetch("profile", lambda **kw: self._api.get_profile(user_id, **kw)).to_dict())
        except Exception as exc:  # noqa: BLE001 - best-effort by contract
            log.info("line profile unavailable: %s", getattr(exc, "status", type(exc).__name__))
            return None

    def _fetch(self, endpoint: str, call: Any) -> Any:
        started, outcome = time.perf_counter(), "accepted"
        try:
            return call(_request_timeout=self.timeout)
        except ApiException as exc:
            outcome = classify(exc.status or None, exc.body, exc).value
            raise LineApiError(error_message(exc.body) or str(exc.reason), exc.status or None) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            outcome = Outcome.TRANSIENT.value
            raise LineApiError(f"{type(exc).__name__}: {exc}"[:300]) from exc
        finally:
            record_line_call(endpoint, outcome, time.perf_counter() - started)

    # --- rich menus (SPEC §9); each raises ``LineApiError`` ------------------------------------

    def create_rich_menu(self, menu: dict[str, Any]) -> str:
        """Create the menu object (camelCase as LINE wants it); LINE's new rich menu id."""
        request = RichMenuRequest.from_dict(menu)
        return str(self._fetch("richmenu", lambda **kw: self._api.create_rich_menu(request, **kw)).rich_menu_id)

    def validate_rich_menu(self, menu: dict[str, Any]) -> None:
        request = RichMenuRequest.from_dict(menu)
        self._fetch("richmenu_validate", lambda **kw: self._api.validate_rich_menu_object(request, **kw))

    def upload_rich_menu_image(self, rich_menu_id: str, image: bytes, content_type: str) -> None:
        """Upload the menu's image to the data host (``LINE_DATA_API_BASE_URL``)."""
        blob = self._blob_api()
        self._fetch("richmenu_content", lambda **kw: blob.set_rich_menu_image(
            rich_menu_id, image, _headers={"Content-Type": content_type}, **kw))

    def set_rich_menu_alias(self, alias_id: str, rich_menu_id: str, *, exists: bool) -> None:
        """Point ``alias_id`` at the menu (create it, or move it when it exists)."""
        if exists:
            update = UpdateRichMenuAliasRequest(richMenuId=rich_menu_id)
            self._fetch("richmenu_alias", lambda **kw: self._api.update_rich_menu_alias(alias_id, update, **kw))
        else:
            create = CreateRichMenuAliasRequest(richMenuAliasId=alias_id, richMenuId=rich_menu_id)
            self._fetch("richmenu_alias", lambda **kw: self._api.create_rich_menu_alias(create, **kw))

    def link_rich_menu(self, user_id: str, rich_menu_id: str) -> None:
        self._fetch("richmenu_link", lambda **kw: self._api.link_rich_menu_id_to_user(user_id, rich_menu_id, **kw))

    def link_rich_menu_many(self, user_ids: list[str], rich_menu_id: str) -> None:
        """Link up to 500 users in one request."""
        request = RichMenuBulkLinkRequest(richMenuId=rich_menu_id, userIds=user_ids)
        self._fetch("richmenu_link", lambda **kw: self._api.link_rich_menu_id_to_users(request, **kw))

    def unlink_rich_menu(self, user_id: str) -> None:
        self._fetch("richmenu_link", lambda **kw: self._api.unlink_rich_menu_id_from_user(user_id, **kw))

    def set_default_rich_menu(self, rich_menu_id: str) -> None:
        self._fetch("richmenu_default", lambda **kw: self._api.set_default_rich_menu(rich_menu_id, **kw))

    def _blob_api(self) -> MessagingApiBlob:
        if self._blob is None:
            configuration = Configuration(host=self._data_base_url, access_token=self._access_token)
            configuration.retries = False
            self._blob = MessagingApiBlob(ApiClient(configuration))
        return self._blob

    def quota_limit(self) -> int | None:
        """The month's message limit; None when the plan has no limit. Raises ``LineApiError``."""
        quota = self._fetch("quota", self._api.get_message_quota)
        kind = getattr(quota.type, "value", quota.type)
        return None if kind == "none" else int(quota.value)

    def consumption(self) -> int:
        """Messages counted this month (includes ones sent from OA Manager). Raises ``LineApiError``."""
        return int(self._fetch("consumption", self._api.get_message_quota_consumption).total_usage)


_clients: dict[str, tuple[int, str, str, LineClient]] = {}
_clients_lock = threading.Lock()


def client_for(channel_name: str, base_url: str, access_token: str, data_base_url: str | None = None) -> LineClient:
    """The process-wide client for a channel; re-created after a fork (pools must not be shared)."""
    pid = os.getpid()
    entry = _clients.get(channel_name)
    if entry is not None and entry[:3] == (pid, base_url, access_token) and (
            data_base_url is None or entry[3]._data_base_url == data_base_url.rstrip("/")):
        return entry[3]
    with _clients_lock:
        entry = _clients.get(channel_name)
        if entry is None or entry[:3] != (pid, base_url, access_token) or (
                data_base_url is not None and entry[3]._data_base_url != data_base_url.rstrip("/")):
            entry = (pid, base_url, access_token, LineClient(base_url, access_token, data_base_url=data_base_url))
            _clients[channel_name] = entry
        return entry[3]
