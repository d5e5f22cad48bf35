"""LINE Messaging API limits (LINE_FACTS.md), in one place: the app, the scenario validator and
the simulator all import them from here so a changed limit changes everywhere at once."""

from __future__ import annotations

# Rate limits per channel (requests per second, token bucket).
PUSH_RATE = 2000  # push, reply, profile, quota, consumption and most other endpoints
DEFAULT_RATE = PUSH_RATE
MULTICAST_RATE = 200

# Request shape.
MULTICAST_MAX = 500  # recipients per multicast request
MAX_MESSAGES = 5  # message objects per request
TEXT_MAX_UTF16 = 5000  # text message length in UTF-16 code units
QUICK_REPLY_MAX = 13
LABEL_MAX = 20  # action label characters
POSTBACK_DATA_MAX = 300
REQUEST_BODY_MAX = 2 * 1024 * 1024  # bytes
URL_MAX = 2000
FLEX_ALT_TEXT_MAX = 1500
TEMPLATE_ALT_TEXT_MAX = 400
BUTTONS_ACTIONS_MAX = 4
BUTTONS_TITLE_MAX = 40
BUTTONS_TEXT_MAX = 160
BUTTONS_TEXT_MAX_WITH_IMAGE_OR_TITLE = 60

# Lifetimes.
RETRY_KEY_TTL_S = 24 * 3600  # an accepted X-Line-Retry-Key is remembered this long
REPLY_TOKEN_TTL_S = 60  # reply tokens are single use and valid for about a minute
WEBHOOK_DEADLINE_S = 2.0  # LINE counts a webhook as timed out after about 2 s

# Aliases under the names the scenario validator uses (app/scenarios/limits.py).
MAX_MESSAGES_PER_REQUEST = MAX_MESSAGES
MAX_TEXT_UTF16_UNITS = TEXT_MAX_UTF16
MAX_QUICK_REPLY_ITEMS = QUICK_REPLY_MAX
MAX_ACTION_LABEL_CHARS = LABEL_MAX
MAX_POSTBACK_DATA_CHARS = POSTBACK_DATA_MAX
MAX_FLEX_ALT_TEXT_CHARS = FLEX_ALT_TEXT_MAX
MAX_TEMPLATE_ALT_TEXT_CHARS = TEMPLATE_ALT_TEXT_MAX
MAX_URL_CHARS = URL_MAX
MAX_BUTTONS_ACTIONS = BUTTONS_ACTIONS_MAX
MAX_BUTTONS_TITLE_CHARS = BUTTONS_TITLE_MAX
MAX_BUTTONS_TEXT_CHARS = BUTTONS_TEXT_MAX
MAX_BUTTONS_TEXT_CHARS_WITH_IMAGE_OR_TITLE = BUTTONS_TEXT_MAX_WITH_IMAGE_OR_TITLE

# 429 bodies: LINE tells the two causes apart only by the message.
RATE_LIMIT_MESSAGE = "The API rate limit has been exceeded. Try again later."
MONTHLY_LIMIT_MESSAGE = "You have reached your monthly limit."


def utf16_units(text: str) -> int:
    """Length as LINE counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    if text.isascii():  # fast path: one unit per character
        return len(text)
    return len(text.encode("utf-16-le")) // 2
