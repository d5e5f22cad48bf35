"""The ID-token check and the signed login state (pure)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from app.measure.line_login import LoginRejected, StateSigner, verify_id_token
from linesim.login import id_token

CHANNEL, SECRET, NONCE = "1650000000", "login-secret", "n-123"


def _claims(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {"iss": "https://access.line.me", "sub": "U" + "a" * 32, "aud": CHANNEL,
                                 "exp": int(time.time()) + 600, "iat": int(time.time()), "nonce": NONCE}
    claims.update(overrides)
    return claims


def _verify(token: str) -> dict[str, object]:
    return verify_id_token(token, channel_id=CHANNEL, channel_secret=SECRET, nonce=NONCE)


def test_a_valid_token_gives_its_claims() -> None:
    assert _verify(id_token(_claims(), SECRET))["sub"] == "U" + "a" * 32


@pytest.mark.parametrize("claims", [
    {"iss": "https://evil.example"}, {"aud": "999"}, {"exp": int(time.time()) - 3600}, {"nonce": "other"},
    {"sub": None}, {"exp": "tomorrow"},
])
def test_a_token_with_a_wrong_claim_is_rejected(claims: dict[str, object]) -> None:
    with pytest.raises(LoginRejected):
        _verify(id_token(_claims(**claims), SECRET))


def test_a_token_signed_with_another_key_is_rejected() -> None:
    with pytest.raises(LoginRejected, match="signature"):
        _verify(id_token(_claims(), "other-secret"))


def test_alg_none_is_rejected() -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    body = id_token(_claims(), SECRET).split(".")[1]
    with pytest.raises(LoginRejected):
        _verify(f"{header}.{body}.")
    with pytest.raises(LoginRejected, match="HS256"):
        _verify(f"{header}.{body}.AAAA")


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c", "!!.??.**"])
def test_garbage_is_rejected(token: str) -> None:
    with pytest.raises(LoginRejected):
        _verify(token)


def test_state_round_trips_and_refuses_tampering_and_age() -> None:
    signer = StateSigner("key")
    state, login = signer.new("flyer", now=1000.0)
    assert signer.check(state, now=1001.0) == login
    body, sig = state.split(".")
    with pytest.raises(LoginRejected):
        signer.check(body + "x." + sig, now=1001.0)
    with pytest.raises(LoginRejected):
        StateSigner("other-key").check(state, now=1001.0)
    with pytest.raises(LoginRejected, match="too long"):
        signer.check(state, now=1000.0 + 601)
