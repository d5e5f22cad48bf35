"""Webhook signature check: base64(HMAC-SHA256(channel secret, raw body)), compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac


def compute_signature(body: bytes, secret: str) -> str:
    """The ``X-Line-Signature`` LINE would send for ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_is_valid(body: bytes, signature: str | None, secret: str) -> bool:
    """True only for the exact signature of ``body``; missing or empty secrets never verify."""
    if not signature or not secret:
        return False
    return hmac.compare_digest(compute_signature(body, secret).encode(), signature.strip().encode())
