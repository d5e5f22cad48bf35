"""SPEC §7's role table: each role includes the ones before it; export is separate, owners have it."""

from __future__ import annotations

import pytest

from app.staff.credentials import digest, hash_password, new_secret, verify_password
from app.staff.roles import allows

TABLE = {
    "viewer": {"viewer"},
    "operator": {"viewer", "operator"},
    "admin": {"viewer", "operator", "admin"},
    "owner": {"viewer", "operator", "admin", "owner", "export"},
}


@pytest.mark.parametrize("role", TABLE)
@pytest.mark.parametrize("need", ["viewer", "operator", "admin", "owner", "export"])
def test_role_allows_exactly_what_the_table_says(role: str, need: str) -> None:
    assert allows(role, False, need) is (need in TABLE[role])


def test_export_is_a_separate_grant() -> None:
    assert allows("viewer", True, "export") and not allows("viewer", True, "operator")


def test_an_unknown_role_allows_nothing() -> None:
    assert not allows("root", True, "viewer")


def test_passwords_are_argon2id_and_verify() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterx")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("not-a-hash", "x")


def test_secrets_have_at_least_128_bits_and_are_stored_as_digests() -> None:
    secret = new_secret()
    assert len(secret) >= 22 and new_secret() != secret
    assert digest(secret) != secret and len(digest(secret)) == 64
