"""The words the database stores (statuses, actions, kinds) as the operator reads them.

Listed with ``lazy_gettext`` so ``./stepline i18n`` extracts them; ``|label`` translates a stored
word at render time and leaves unknown words as they are.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

WORDS = {
    # scenario lifecycle
    "draft": _l("draft"), "live": _l("live"), "paused": _l("paused"), "error": _l("error"),
    "publish": _l("publish"), "pause": _l("pause"), "resume": _l("resume"),
    # deliveries
    "queued": _l("queued"), "sending": _l("sending"), "sent": _l("sent"), "failed": _l("failed"),
    "held": _l("held"), "skipped": _l("skipped"), "cancelled": _l("cancelled"),
    # friends and enrollments
    "active": _l("active"), "blocked": _l("blocked"), "completed": _l("completed"), "stopped": _l("stopped"),
    "test": _l("test"),
    # webhook events
    "follow": _l("follow"), "unfollow": _l("unfollow"), "message": _l("message"), "postback": _l("postback"),
    "processed": _l("processed"), "pending": _l("pending"), "ignored": _l("ignored"),
    # upload results
    "created": _l("created"), "updated": _l("updated"), "unchanged": _l("unchanged"),
    "changed": _l("changed"), "removed": _l("removed"),
    # HTTP errors on the dashboard's error page
    "Bad Request": _l("Bad Request"), "Forbidden": _l("Forbidden"), "Not Found": _l("Not Found"),
    "Method Not Allowed": _l("Method Not Allowed"), "Request Entity Too Large": _l("Request Entity Too Large"),
    # RQ worker states
    "idle": _l("idle"), "busy": _l("busy"), "suspended": _l("suspended"),
}


def label(word: object) -> str:
    """A stored word in the page's language (``live`` → 配信中); anything else unchanged."""
    text = str(word) if word is not None else ""
    found = WORDS.get(text)
    return str(found) if found is not None else text
