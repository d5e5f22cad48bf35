"""SPEC §12 for admin uploads: 413 past 256 KiB, alias bombs and deep nesting 422 at once,
RE2-only regexes with positions, a capped error list; never a 500."""

from __future__ import annotations

import json
import time

from flask.testing import FlaskClient

from app.limits import MAX_DOCUMENT_BYTES, MAX_REPORTED_ERRORS
from tests.integration.scenarios.helpers import doc, text_of

BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"


def _put(client: FlaskClient, headers: dict[str, str], body: str, content_type: str = "application/yaml"):
    return client.put("/admin/api/scenarios/welcome", data=body.encode(), headers={**headers,
                                                                                  "Content-Type": content_type})


def test_document_over_256_kib_is_413(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    document = doc("welcome", name="x" * MAX_DOCUMENT_BYTES)
    response = _put(client, admin_headers, text_of(document))
    assert response.status_code == 413
    assert "262144" in response.get_json()["error"]


def test_document_just_under_the_limit_is_accepted(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    body = text_of(doc("welcome")) + "#" + "x" * (MAX_DOCUMENT_BYTES - 2000) + "\n"
    assert _put(client, admin_headers, body).status_code == 201


def test_billion_laughs_is_422_in_under_a_second(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    started = time.monotonic()
    response = _put(client, admin_headers, BILLION_LAUGHS)
    assert response.status_code == 422
    assert time.monotonic() - started < 1.0
    assert "aliases expand" in json.dumps(response.get_json())


def test_recursive_alias_is_422(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    response = _put(client, admin_headers, "id: welcome\nloop: &a [*a]\n")
    assert response.status_code == 422


def test_yaml_nested_deeper_than_64_is_422_with_a_position(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    response = _put(client, admin_headers, "id: welcome\nname: " + "[" * 1000 + "]" * 1000 + "\n")
    assert response.status_code == 422
    (detail,) = response.get_json()["details"]
    assert detail["line"] == 2 and "nesting deeper than 64" in detail["message"]


def test_json_nested_1000_deep_is_422(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    body = '{"id": "welcome", "name": ' + "[" * 1000 + "]" * 1000 + "}"
    assert _put(client, admin_headers, body, "application/json").status_code == 422


def test_json_files_body_nested_1000_deep_is_400(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/admin/api/scenarios", data="[" * 1000 + "]" * 1000,
                           headers={**admin_headers, "Content-Type": "application/json"})
    assert response.status_code == 400


def test_thousands_of_unknown_keys_report_a_capped_list(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    body = "id: welcome\n" + "".join(f"k{i}: 1\n" for i in range(20000))
    response = _put(client, admin_headers, body)
    assert response.status_code == 422
    details = response.get_json()["details"]
    assert len(details) == MAX_REPORTED_ERRORS + 1
    assert details[-1]["message"].endswith("more error(s) not listed")


def test_regex_outside_re2_syntax_is_a_positioned_422(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    document = doc("welcome", rules=[{"when": {"keyword": ["fine", "(?<=x)y"], "match": "regex"},
                                      "do": [{"stop": True}]}])
    response = _put(client, admin_headers, text_of(document))
    assert response.status_code == 422
    (detail,) = response.get_json()["details"]
    assert detail["path"] == "rules[0].when.keyword[1]" and detail["line"] is not None
    assert "RE2" in detail["message"]


def test_keyword_trigger_regex_is_checked_too(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    document = doc("welcome", start={"trigger": "keyword", "keywords": ["(a)\\1"], "match": "regex"})
    response = _put(client, admin_headers, text_of(document))
    assert response.status_code == 422
    assert response.get_json()["details"][0]["path"] == "start.keywords[0]"


def test_regex_longer_than_the_limit_is_a_positioned_422(client: FlaskClient, admin_headers: dict[str, str]) -> None:
    document = doc("welcome", rules=[{"when": {"keyword": ["a" * 1001], "match": "regex"}, "do": [{"stop": True}]}])
    response = _put(client, admin_headers, text_of(document))
    assert response.status_code == 422
    (detail,) = response.get_json()["details"]
    assert detail["path"] == "rules[0].when.keyword[0]" and "1000" in detail["message"]
