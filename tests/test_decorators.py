"""HTTP-level tests of ``require_preconditions`` on function views (sync and async).

Views: tests/testapp/views.py (mounted in tests/support/urls.py) and tests/testapp/extra_views.py
(mounted under /extra/). Each test cites the CONFORMANCE rule it checks.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.http import parse_http_date

from django_preconditions.conditions import Decision, Outcome, Reason
from django_preconditions.enforcement import PreconditionContext
from django_preconditions.models import SETTLED_AFTER
from django_preconditions.policy import Policy
from tests.support.documents import STORED_AT_HTTP, backdate, make_stale, state
from tests.support.error_formats import GUIDANCE_KEYS
from tests.support.json_requests import JSON, asend, send
from tests.support.validators import assert_last_modified
from tests.testapp import extra_views
from tests.testapp.models import Document

pytestmark = pytest.mark.django_db

PROBLEM_JSON = "application/problem+json"
ANCIENT = "Sat, 01 Jan 2000 00:00:00 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"
UNSAFE_METHODS = ["PUT", "PATCH", "DELETE"]
PROTECTED_VIEWS = ["/docs/{pk}/", "/reuse/docs/{pk}/"]


# --- helpers ----------------------------------------------------------------------------


def body_for(method: str) -> dict[str, str]:
    return {"title": f"{method} title", "body": f"{method} body"}


def problem(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == PROBLEM_JSON
    return json.loads(response.content)  # type: ignore[no-any-return]


def common_prefix(values: list[str]) -> str:
    prefix = values[0]
    for value in values[1:]:
        while not value.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def wait_for_a_fresh_second() -> None:
    """Return just after a whole second of the real clock has begun."""
    fraction = time.time() % 1
    if fraction > 0.05:
        time.sleep(1.001 - fraction)


# --- rule 39: validators on GET ---------------------------------------------------------


def test_get_answers_200_with_a_strong_etag_and_a_last_modified_not_in_the_future(client, document):
    response = client.get(f"/docs/{document.pk}/")
    assert response.status_code == 200
    assert response["ETag"] == document.etag
    assert response["ETag"].startswith('"')
    assert response["ETag"].endswith('"')
    assert not response["ETag"].startswith("W/")
    served = parse_http_date(response["Last-Modified"])
    assert served <= time.time()
    assert_last_modified(response, document)
    assert json.loads(response.content)["title"] == "draft"


def test_head_answers_200_with_the_same_validators_as_get(client, document):
    get = client.get(f"/docs/{document.pk}/")
    head = client.head(f"/docs/{document.pk}/")
    assert head.status_code == 200
    assert head["ETag"] == get["ETag"]
    assert head["Last-Modified"] == get["Last-Modified"]


def test_last_modified_is_whole_seconds_of_the_stored_time(client, document):
    # Rules 6 and 22: an IMF-fixdate, the stored sub-second time truncated.
    backdate(document.pk)
    response = client.get(f"/docs/{document.pk}/")
    assert response["Last-Modified"] == STORED_AT_HTTP


# --- rules 29, 33, 35: 428 ---------------------------------------------------------------


@pytest.mark.parametrize("method", UNSAFE_METHODS)
@pytest.mark.parametrize("view", PROTECTED_VIEWS)
def test_an_unconditional_write_is_refused_with_428_and_changes_nothing(
    client, document, method, view
):
    before = state(document.pk)
    response = send(client, method, view.format(pk=document.pk), body_for(method))
    assert response.status_code == 428
    assert state(document.pk) == before


def test_428_carries_cache_control_no_store(client, document):
    # Rule 33.
    response = send(client, "PUT", f"/docs/{document.pk}/", body_for("PUT"))
    assert response.status_code == 428
    assert response["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers


def test_428_names_the_accepted_headers_where_to_get_the_etag_and_an_example(client, document):
    # Rules 34, 35, 37.
    url = f"/docs/{document.pk}/"
    body = problem(send(client, "DELETE", url))
    assert body["status"] == 428
    assert body["title"] == "Precondition Required"
    assert body["instance"] == url
    assert body["type"].endswith("precondition-required")
    assert body["required_headers"] == ["If-Match", "If-Unmodified-Since"]
    assert "If-Match" in body["detail"]
    assert "If-Unmodified-Since" in body["detail"]
    assert body["example"] == f"If-Match: {document.etag}"
    assert body["current_etag"] == document.etag
    assert f"GET {url}" in body["steps"][0]
    assert "ETag" in body["steps"][0]
    assert "documentation" not in body


@override_settings(PRECONDITIONS={"DOCUMENTATION_URL": "https://docs.example.com/preconditions"})
def test_428_links_the_documentation_when_configured(client, document):
    # Rule 35.
    body = problem(send(client, "PUT", f"/docs/{document.pk}/", body_for("PUT")))
    assert body["documentation"] == "https://docs.example.com/preconditions"
    assert body["type"].startswith("https://docs.example.com/preconditions")


def test_an_invalid_json_body_without_precondition_is_428_not_400(client, document):
    # Rule 11: preconditions are evaluated before the body is parsed.
    before = state(document.pk)
    response = send(client, "PUT", f"/docs/{document.pk}/", raw=b"{not json")
    assert response.status_code == 428
    assert state(document.pk) == before


@pytest.mark.parametrize("value", ['"anything"', "*"])
def test_if_none_match_does_not_satisfy_the_requirement_for_an_update(client, document, value):
    # Rules 29, 31: only If-None-Match: * (create-only) counts, and on an existing document
    # it fails (rule 26). A listed tag proves nothing.
    before = state(document.pk)
    response = send(
        client, "PUT", f"/docs/{document.pk}/", body_for("PUT"), {"If-None-Match": value}
    )
    assert response.status_code == (412 if value == "*" else 428)
    assert state(document.pk) == before


# --- rule 32: never 428 for safe methods or methods outside the policy --------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_safe_methods_never_need_a_precondition(client, document, method):
    response = client.generic(method, f"/docs/{document.pk}/")
    assert response.status_code == 200


def test_options_never_needs_a_precondition(client, document):
    response = client.options(f"/extra/options/docs/{document.pk}/")
    assert response.status_code == 204


def test_post_is_outside_the_default_policy_so_it_is_not_428(client, document):
    response = send(client, "POST", f"/docs/{document.pk}/", {"title": "posted"})
    assert response.status_code == 200
    assert state(document.pk)[0] == "posted"  # type: ignore[index]


# --- rule 11: 412 before the body is parsed ------------------------------------------------


def test_a_stale_if_match_with_an_invalid_json_body_is_412_not_400(client, document):
    stale = make_stale(document)
    before = state(document.pk)
    response = send(
        client, "PUT", f"/docs/{document.pk}/", raw=b"{not json", headers={"If-Match": stale}
    )
    assert response.status_code == 412
    assert state(document.pk) == before


def test_a_current_if_match_with_an_invalid_json_body_reaches_the_view_and_gets_400(
    client, document
):
    response = send(
        client,
        "PUT",
        f"/docs/{document.pk}/",
        raw=b"{not json",
        headers={"If-Match": document.etag},
    )
    assert response.status_code == 400
    assert json.loads(response.content) == {"error": "invalid_json"}


# --- rule 12: 401/403/404/405 before 412/428 -----------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", {}),
        ("PUT", {}),
        ("PUT", {"If-Match": '"stale"'}),
        ("PATCH", {"If-Unmodified-Since": ANCIENT}),
        ("DELETE", {"If-Match": "*"}),
        ("DELETE", {}),
    ],
)
@pytest.mark.parametrize("view", [*PROTECTED_VIEWS, "/async/docs/{pk}/"])
def test_an_absent_document_is_404_in_json_whatever_the_preconditions(
    client, method, headers, view
):
    response = send(client, method, view.format(pk=999999), body_for(method), headers)
    assert response.status_code == 404
    assert "ETag" not in response.headers
    body = problem(response)
    assert body["status"] == 404
    assert body["instance"] == view.format(pk=999999)


@pytest.mark.parametrize("headers", [{}, {"If-Match": '"stale"'}, {"If-Match": "*"}])
def test_an_unsupported_method_is_405_whatever_the_preconditions(client, document, headers):
    before = state(document.pk)
    response = send(client, "DELETE", f"/extra/get-put/docs/{document.pk}/", headers=headers)
    assert response.status_code == 405
    assert state(document.pk) == before


def test_the_allowed_methods_of_that_view_are_still_protected(client, document):
    response = send(client, "PUT", f"/extra/get-put/docs/{document.pk}/")
    assert response.status_code == 428


@pytest.mark.parametrize("headers", [{}, {"If-Match": '"stale"'}])
def test_an_anonymous_caller_gets_401_whatever_the_preconditions(client, document, headers):
    response = send(client, "PUT", f"/extra/staff/docs/{document.pk}/", headers=headers)
    assert response.status_code == 401
    assert "ETag" not in response.headers


@pytest.mark.parametrize("headers", [{}, {"If-Match": '"stale"'}])
def test_a_forbidden_caller_gets_403_whatever_the_preconditions(
    client, django_user_model, document, headers
):
    client.force_login(django_user_model.objects.create_user("pat"))
    response = send(client, "PUT", f"/extra/staff/docs/{document.pk}/", headers=headers)
    assert response.status_code == 403
    assert "ETag" not in response.headers


def test_a_permitted_caller_then_meets_the_preconditions(client, django_user_model, document):
    client.force_login(django_user_model.objects.create_user("sam", is_staff=True))
    url = f"/extra/staff/docs/{document.pk}/"
    assert send(client, "PUT", url).status_code == 428
    assert send(client, "PUT", url, headers={"If-Match": '"stale"'}).status_code == 412
    assert send(client, "PUT", url, headers={"If-Match": document.etag}).status_code == 200


# --- rule 13: no 412 and no ETag for a caller who may not see the object ------------------


@pytest.mark.parametrize(
    ("method", "use_current_etag"),
    [("GET", False), ("PUT", False), ("PUT", True), ("DELETE", False), ("DELETE", True)],
)
def test_a_caller_who_may_not_see_the_document_gets_404_never_412_nor_its_etag(
    client, alice, bob, method, use_current_etag
):
    document = Document.objects.create(title="Alice's", owner=alice)
    stale = make_stale(document)
    client.force_login(bob)
    headers = {"If-Match": document.etag if use_current_etag else stale}
    if method == "GET":
        headers = {"If-None-Match": document.etag}
    before = state(document.pk)
    response = send(client, method, f"/owned/docs/{document.pk}/", headers=headers)
    assert response.status_code == 404
    assert "ETag" not in response.headers
    assert "Last-Modified" not in response.headers
    assert document.version_token not in response.content.decode()
    assert state(document.pk) == before


def test_the_owner_gets_412_with_the_current_etag(client, alice):
    document = Document.objects.create(title="Alice's", owner=alice)
    stale = make_stale(document)
    client.force_login(alice)
    response = send(client, "PUT", f"/owned/docs/{document.pk}/", headers={"If-Match": stale})
    assert response.status_code == 412
    assert response["ETag"] == document.etag


# --- rule 14: OPTIONS, TRACE and CORS preflight ignore preconditions ------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"If-Match": '"stale"'},
        {"If-Match": "not-quoted"},
        {"If-None-Match": "*"},
        {"If-Unmodified-Since": ANCIENT},
    ],
)
@pytest.mark.parametrize("method", ["OPTIONS", "TRACE"])
def test_options_and_trace_ignore_preconditions(client, document, method, headers):
    response = client.generic(method, f"/extra/options/docs/{document.pk}/", headers=headers)
    assert response.status_code == 204
    assert response["Allow"] == "GET, HEAD, PUT, DELETE, OPTIONS"


def test_a_cors_preflight_ignores_preconditions(client, document):
    response = client.options(
        f"/extra/options/docs/{document.pk}/",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "if-match, content-type",
        },
    )
    assert response.status_code == 204


# --- rules 15-17: precedence ----------------------------------------------------------------


def test_if_match_wins_over_a_future_if_unmodified_since(client, document):
    # Rule 15: a stale If-Match fails even with an If-Unmodified-Since that would pass.
    stale = make_stale(document)
    before = state(document.pk)
    response = send(
        client,
        "PUT",
        f"/docs/{document.pk}/",
        body_for("PUT"),
        {"If-Match": stale, "If-Unmodified-Since": FUTURE},
    )
    assert response.status_code == 412
    assert state(document.pk) == before


def test_if_match_wins_over_an_ancient_if_unmodified_since(client, document):
    # Rule 15: the current If-Match passes even with an If-Unmodified-Since that would fail.
    response = send(
        client,
        "PUT",
        f"/docs/{document.pk}/",
        body_for("PUT"),
        {"If-Match": document.etag, "If-Unmodified-Since": ANCIENT},
    )
    assert response.status_code == 200
    assert state(document.pk)[0] == "PUT title"  # type: ignore[index]


def test_if_none_match_wins_over_if_modified_since_on_get(client, document):
    # Rule 16: If-Modified-Since is ignored when If-None-Match is present.
    url = f"/docs/{document.pk}/"
    response = client.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": FUTURE})
    assert response.status_code == 200
    response = client.get(
        url, headers={"If-None-Match": document.etag, "If-Modified-Since": ANCIENT}
    )
    assert response.status_code == 304


def test_if_modified_since_alone_decides_get(client, document):
    # Rule 16.
    backdate(document.pk)
    url = f"/docs/{document.pk}/"
    served = client.get(url)["Last-Modified"]
    response = client.get(url, headers={"If-Modified-Since": served})
    assert response.status_code == 304
    assert response["ETag"] == document.etag
    assert client.get(url, headers={"If-Modified-Since": ANCIENT}).status_code == 200
    assert client.head(url, headers={"If-Modified-Since": served}).status_code == 304


def test_if_modified_since_is_ignored_on_put(client, document):
    # Rule 16: only GET and HEAD evaluate If-Modified-Since.
    response = send(
        client,
        "PUT",
        f"/docs/{document.pk}/",
        body_for("PUT"),
        {"If-Match": document.etag, "If-Modified-Since": FUTURE},
    )
    assert response.status_code == 200


def test_current_if_match_and_matching_if_none_match_is_304_on_get(client, document):
    # Rule 17.
    headers = {"If-Match": document.etag, "If-None-Match": document.etag}
    response = client.get(f"/docs/{document.pk}/", headers=headers)
    assert response.status_code == 304
    assert response.content == b""


def test_current_if_match_and_matching_if_none_match_is_412_on_put(client, document):
    # Rule 17.
    before = state(document.pk)
    headers = {"If-Match": document.etag, "If-None-Match": document.etag}
    response = send(client, "PUT", f"/docs/{document.pk}/", body_for("PUT"), headers)
    assert response.status_code == 412
    assert state(document.pk) == before


# --- rule 19: If-Match on writes ------------------------------------------------------------


@pytest.mark.parametrize("method", UNSAFE_METHODS)
@pytest.mark.parametrize("view", PROTECTED_VIEWS)
def test_a_write_with_the_current_etag_succeeds_and_changes_the_etag(
    client, document, method, view
):
    old = document.etag
    response = send(
        client, method, view.format(pk=document.pk), body_for(method), {"If-Match": old}
    )
    if method == "DELETE":
        assert response.status_code == 204
        assert state(document.pk) is None
        return
    assert response.status_code == 200
    document.refresh_from_db()
    assert document.title == f"{method} title"
    assert response["ETag"] == document.etag != old


@pytest.mark.parametrize("method", UNSAFE_METHODS)
@pytest.mark.parametrize("view", PROTECTED_VIEWS)
def test_a_write_with_a_stale_etag_is_412_and_changes_nothing(client, document, method, view):
    stale = make_stale(document)
    before = state(document.pk)
    response = send(
        client, method, view.format(pk=document.pk), body_for(method), {"If-Match": stale}
    )
    assert response.status_code == 412
    assert state(document.pk) == before


def test_a_weak_form_of_the_current_etag_passes_by_default(client, document):
    # Rule 10 (WEAK_IF_MATCH default: accept).
    response = send(
        client, "PUT", f"/docs/{document.pk}/", body_for("PUT"), {"If-Match": f"W/{document.etag}"}
    )
    assert response.status_code == 200


@override_settings(PRECONDITIONS={"WEAK_IF_MATCH": False})
def test_a_weak_form_of_the_current_etag_fails_in_strict_mode(client, document):
    # Rule 10 (strict setting).
    response = send(
        client, "PUT", f"/docs/{document.pk}/", body_for("PUT"), {"If-Match": f"W/{document.etag}"}
    )
    assert response.status_code == 412


def test_any_member_of_an_if_match_list_passes(client, document):
    # Rule 1.
    headers = {"If-Match": f'"old", {document.etag}, "older"'}
    response = send(client, "PUT", f"/docs/{document.pk}/", body_for("PUT"), headers)
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["unquoted", '*, "x"', "", '"open'])
def test_a_malformed_if_match_on_a_protected_view_is_400_not_428(client, document, value):
    # Rule 5.
    before = state(document.pk)
    response = send(client, "PUT", f"/docs/{document.pk}/", body_for("PUT"), {"If-Match": value})
    assert response.status_code == 400
    body = problem(response)
    assert body["header"] == "If-Match"
    assert body["received"] == value
    assert state(document.pk) == before


def test_preconditions_sent_on_an_unprotected_method_are_still_evaluated(client, document):
    # Rules 19, 32: PATCH is outside /custom/'s policy (no 428), but a stale If-Match fails.
    stale = make_stale(document)
    before = state(document.pk)
    response = send(client, "PATCH", f"/custom/docs/{document.pk}/", {}, {"If-Match": stale})
    assert response.status_code == 412
    assert state(document.pk) == before


def test_a_write_after_a_delete_with_the_same_etag_is_404_and_resurrects_nothing(client, document):
    # Rule 45 at the HTTP level.
    url, etag = f"/docs/{document.pk}/", document.etag
    assert send(client, "DELETE", url, headers={"If-Match": etag}).status_code == 204
    for method in ("PUT", "PATCH", "DELETE"):
        response = send(client, method, url, body_for(method), {"If-Match": etag})
        assert response.status_code in (404, 412)
    assert state(document.pk) is None


# --- rule 20 ---------------------------------------------------------------------------------


def test_get_with_a_stale_if_match_is_412(client, document):
    stale = make_stale(document)
    response = client.get(f"/docs/{document.pk}/", headers={"If-Match": stale})
    assert response.status_code == 412
    assert response["ETag"] == document.etag


# --- rule 21: If-Match: * ---------------------------------------------------------------------


@pytest.mark.parametrize("method", UNSAFE_METHODS)
def test_a_wildcard_if_match_does_not_satisfy_the_requirement(client, document, method):
    before = state(document.pk)
    response = send(client, method, f"/docs/{document.pk}/", body_for(method), {"If-Match": "*"})
    assert response.status_code == 428
    body = problem(response)
    assert body["reason"] == "wildcard_not_accepted"
    assert "If-Match: *" in body["detail"]
    assert "which version" in body["detail"]
    assert state(document.pk) == before


@override_settings(PRECONDITIONS={"ALLOW_WILDCARD": True})
def test_a_wildcard_if_match_passes_on_an_existing_document_when_allowed(client, document):
    response = send(client, "PUT", f"/docs/{document.pk}/", body_for("PUT"), {"If-Match": "*"})
    assert response.status_code == 200


@override_settings(PRECONDITIONS={"ALLOW_WILDCARD": True})
def test_a_wildcard_if_match_on_an_absent_document_is_404_when_allowed(client):
    response = send(client, "PUT", "/docs/999999/", body_for("PUT"), {"If-Match": "*"})
    assert response.status_code == 404


# --- rules 22-24: If-Unmodified-Since --------------------------------------------------------


def test_if_unmodified_since_equal_to_the_served_last_modified_passes(client, document):
    # Rule 22: the stored time has sub-second precision; the served one has not.
    backdate(document.pk)
    url = f"/docs/{document.pk}/"
    served = client.get(url)["Last-Modified"]
    assert served == STORED_AT_HTTP
    response = send(client, "PUT", url, body_for("PUT"), {"If-Unmodified-Since": served})
    assert response.status_code == 200
    assert state(document.pk)[0] == "PUT title"  # type: ignore[index]


def wait_until_settled(instance: Document) -> None:
    """Sleep until the second of ``instance``'s last write is served (rule 24)."""
    instance.refresh_from_db()
    settled = int(instance.last_modified.timestamp()) + 1 + SETTLED_AFTER
    time.sleep(max(0.0, settled - time.time()))


def test_if_unmodified_since_served_right_after_creation_passes_once_the_second_settled(
    client,
):
    # Rules 22 and 24, with the real clock: a client reading in the second a document was
    # created is served the second before (a later write of the same second could follow),
    # so its If-Unmodified-Since is refused, safely; re-read once the second has settled,
    # the Last-Modified served passes.
    wait_for_a_fresh_second()
    document = Document.objects.create(title="fresh")
    url = f"/docs/{document.pk}/"
    served = client.get(url)["Last-Modified"]
    before = state(document.pk)
    early = send(client, "PUT", url, body_for("PUT"), {"If-Unmodified-Since": served})
    assert early.status_code == 412
    assert state(document.pk) == before
    wait_until_settled(document)
    served = client.get(url)["Last-Modified"]
    response = send(client, "PUT", url, body_for("PUT"), {"If-Unmodified-Since": served})
    assert response.status_code == 200
    assert state(document.pk)[0] == "PUT title"  # type: ignore[index]


def test_if_unmodified_since_after_create_by_put_passes_once_the_second_settled(client):
    # Rules 22, 24 and 26: the Last-Modified of the 201 names the second before the write
    # until that second has settled; then a re-read gives one that passes.
    wait_for_a_fresh_second()
    created = send(client, "PUT", "/create/docs/4243/", {"title": "new"}, {"If-None-Match": "*"})
    assert created.status_code == 201
    stored = Document.objects.get(pk=4243)
    assert parse_http_date(created["Last-Modified"]) == int(stored.last_modified.timestamp()) - 1
    wait_until_settled(stored)
    served = client.get("/docs/4243/")["Last-Modified"]
    response = send(client, "PUT", "/docs/4243/", body_for("PUT"), {"If-Unmodified-Since": served})
    assert response.status_code == 200


@pytest.mark.parametrize("date_format", ["imf", "rfc850", "asctime"])
def test_if_unmodified_since_is_accepted_in_all_three_date_forms(client, document, date_format):
    # Rule 6.
    backdate(document.pk)
    value = {
        "imf": STORED_AT_HTTP,
        "rfc850": "Tuesday, 01-Jul-25 12:00:00 GMT",
        "asctime": "Tue Jul  1 12:00:00 2025",
    }[date_format]
    response = send(
        client, "PUT", f"/docs/{document.pk}/", body_for("PUT"), {"If-Unmodified-Since": value}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("method", UNSAFE_METHODS)
def test_if_unmodified_since_earlier_than_the_modification_is_412(client, document, method):
    # Rule 23.
    backdate(document.pk)
    before = state(document.pk)
    response = send(
        client,
        method,
        f"/docs/{document.pk}/",
        body_for(method),
        {"If-Unmodified-Since": "Tue, 01 Jul 2025 11:59:59 GMT"},
    )
    assert response.status_code == 412
    assert state(document.pk) == before


def test_a_stale_if_unmodified_since_within_the_same_second_is_412(client, document):
    # Rule 24, with the real clock: write, read, another write, then a write carrying the
    # Last-Modified of the read — all within one second. It must not pass.
    url = f"/docs/{document.pk}/"
    wait_for_a_fresh_second()
    started = time.time()
    first = send(client, "PUT", url, {"title": "first"}, {"If-Match": document.etag})
    assert first.status_code == 200
    read = client.get(url)
    second = send(client, "PUT", url, {"title": "second"}, {"If-Match": read["ETag"]})
    assert second.status_code == 200
    before = state(document.pk)
    stale = send(
        client, "PUT", url, {"title": "lost"}, {"If-Unmodified-Since": read["Last-Modified"]}
    )
    assert int(time.time()) == int(started), "the scenario must run within one second"
    assert stale.status_code == 412
    assert state(document.pk) == before


def test_a_stale_if_unmodified_since_is_412_at_t_plus_0_6_seconds(client, document):
    # Rule 24, the CONFORMANCE timing: read at t, second write at t+0.3 s, stale IUS write
    # at t+0.6 s. The first write happens just before t, in the same second.
    url = f"/docs/{document.pk}/"
    wait_for_a_fresh_second()
    assert (
        send(client, "PUT", url, {"title": "first"}, {"If-Match": document.etag}).status_code == 200
    )
    read = client.get(url)
    time.sleep(0.3)
    assert (
        send(client, "PUT", url, {"title": "second"}, {"If-Match": read["ETag"]}).status_code == 200
    )
    time.sleep(0.3)
    before = state(document.pk)
    stale = send(
        client, "PUT", url, {"title": "lost"}, {"If-Unmodified-Since": read["Last-Modified"]}
    )
    assert stale.status_code == 412
    assert state(document.pk) == before


def test_rule_24_quick_writes_keep_their_exact_time_and_serve_the_second_before(client, document):
    # Rule 24 (rewritten): no write is moved to a later second (no drift ahead of the
    # clock); the ambiguity of a shared second is decided when serving.
    url = f"/docs/{document.pk}/"
    started = timezone.now()
    first = send(client, "PUT", url, {"title": "first"}, {"If-Match": document.etag})
    second = send(client, "PUT", url, {"title": "second"}, {"If-Match": first["ETag"]})
    assert second.status_code == 200
    document.refresh_from_db()
    assert started <= document.last_modified <= timezone.now()
    stored = int(document.last_modified.timestamp())
    assert parse_http_date(second["Last-Modified"]) == stored - 1


# --- rule 25 / rule 7: an unusable If-Unmodified-Since ----------------------------------------


def test_an_invalid_if_unmodified_since_on_a_protected_view_is_428_naming_if_match(
    client, document
):
    # Rules 7 and 25: an If-Unmodified-Since that cannot be used is ignored, so the
    # protected write is unconditional: 428, naming If-Match.
    before = state(document.pk)
    response = send(
        client,
        "PUT",
        f"/docs/{document.pk}/",
        body_for("PUT"),
        {"If-Unmodified-Since": "Mon, 32 Oct 2010 16:56:23 GMT"},
    )
    assert response.status_code == 428
    body = problem(response)
    assert "If-Match" in body["required_headers"]
    assert "If-Unmodified-Since" in body["detail"]
    assert body["example"].startswith("If-Match: ")
    assert state(document.pk) == before


# --- rules 26, 31: create-by-PUT ------------------------------------------------------------


def test_put_with_if_none_match_star_creates_an_absent_document(client):
    response = send(
        client, "PUT", "/create/docs/4242/", {"title": "created"}, {"If-None-Match": "*"}
    )
    assert response.status_code == 201
    created = Document.objects.get(pk=4242)
    assert created.title == "created"
    assert response["ETag"] == created.etag
    assert_last_modified(response, created)


def test_put_with_if_none_match_star_on_an_existing_document_is_412_and_changes_nothing(
    client, document
):
    before = state(document.pk)
    response = send(
        client, "PUT", f"/create/docs/{document.pk}/", {"title": "clobber"}, {"If-None-Match": "*"}
    )
    assert response.status_code == 412
    assert state(document.pk) == before


def test_put_to_an_absent_document_without_precondition_creates_nothing(client):
    # Rule 31: create-only is what satisfies the requirement for creation.
    response = send(client, "PUT", "/create/docs/4242/", {"title": "created"})
    assert response.status_code == 428
    assert state(4242) is None


def test_put_with_if_match_to_an_absent_document_creates_nothing(client):
    # Rule 21: If-Match needs a current representation.
    response = send(client, "PUT", "/create/docs/4242/", {"title": "x"}, {"If-Match": '"x"'})
    assert response.status_code == 412
    assert state(4242) is None


def test_the_create_view_updates_an_existing_document_with_if_match(client, document):
    response = send(
        client,
        "PUT",
        f"/create/docs/{document.pk}/",
        {"title": "updated"},
        {"If-Match": document.etag},
    )
    assert response.status_code == 200
    document.refresh_from_db()
    assert document.title == "updated"
    assert response["ETag"] == document.etag


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_the_create_view_answers_404_for_other_methods_on_an_absent_document(client, method):
    response = send(client, method, "/create/docs/4242/", headers={"If-None-Match": "*"})
    assert response.status_code == 404


# --- rule 28: conditional GET ---------------------------------------------------------------


def test_a_matching_if_none_match_is_304_without_calling_the_view(client, document):
    url = f"/extra/counted/docs/{document.pk}/"
    calls = extra_views.CALLS.get("counted_document", 0)
    response = client.get(url, headers={"If-None-Match": document.etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == document.etag
    assert_last_modified(response, document)
    assert extra_views.CALLS.get("counted_document", 0) == calls
    assert client.get(url).status_code == 200
    assert extra_views.CALLS["counted_document"] == calls + 1


@pytest.mark.parametrize(
    "value",
    ["{etag}", "W/{etag}", '"other", {etag}', "*"],
)
def test_if_none_match_uses_weak_comparison_on_get_and_head(client, document, value):
    headers = {"If-None-Match": value.format(etag=document.etag)}
    assert client.get(f"/docs/{document.pk}/", headers=headers).status_code == 304
    assert client.head(f"/docs/{document.pk}/", headers=headers).status_code == 304


def test_a_non_matching_if_none_match_answers_in_full(client, document):
    stale = make_stale(document)
    response = client.get(f"/docs/{document.pk}/", headers={"If-None-Match": stale})
    assert response.status_code == 200
    assert response["ETag"] == document.etag


def test_a_304_costs_one_query_where_the_200_costs_the_views_own_too(client, document):
    # /docs/<pk>/ fetches the document again: a 200 runs two queries, a 304 only the
    # decorator's. The view is not called.
    url = f"/docs/{document.pk}/"
    with CaptureQueriesContext(connection) as full:
        assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as conditional:
        assert client.get(url, headers={"If-None-Match": document.etag}).status_code == 304
    assert len(full) == 2
    assert len(conditional) == 1


def test_a_304_carries_the_cache_control_and_vary_of_the_200(client, document):
    url = f"/extra/cached/docs/{document.pk}/"
    full = client.get(url)
    not_modified = client.get(url, headers={"If-None-Match": document.etag})
    assert not_modified.status_code == 304
    assert not_modified["Cache-Control"] == full["Cache-Control"]
    assert "max-age=60" in not_modified["Cache-Control"]
    assert not_modified["Vary"] == full["Vary"] == "Accept"


# --- rule 36: 412 ------------------------------------------------------------------------------


def test_412_carries_the_current_validators_and_says_to_reread_reapply_and_retry(client, document):
    stale = make_stale(document)
    url = f"/docs/{document.pk}/"
    response = send(client, "PUT", url, body_for("PUT"), {"If-Match": stale})
    assert response.status_code == 412
    document.refresh_from_db()
    assert response["ETag"] == document.etag
    assert_last_modified(response, document)
    body = problem(response)
    assert body["status"] == 412
    assert body["title"] == "Precondition Failed"
    assert body["instance"] == url
    assert body["type"].endswith("precondition-failed")
    assert body["current_etag"] == document.etag
    steps = " ".join(body["steps"]).lower()
    assert f"get {url}" in steps
    assert "re-apply" in steps
    assert "retry" in steps
    assert "do not resend" in steps
    assert "re-read" in body["detail"]


def test_412_and_428_have_distinct_problem_types(client, document):
    # Rule 34.
    url = f"/docs/{document.pk}/"
    required = problem(send(client, "PUT", url, body_for("PUT")))
    failed = problem(send(client, "PUT", url, body_for("PUT"), {"If-Match": '"stale"'}))
    assert required["type"] != failed["type"]


@override_settings(PRECONDITIONS={"INCLUDE_CURRENT_ETAG": False})
def test_the_current_etag_can_be_left_out_of_error_bodies(client, document):
    # Rule 37: the body omits it; the 412's ETag header still carries it (rule 36).
    url = f"/docs/{document.pk}/"
    response = send(client, "PUT", url, body_for("PUT"), {"If-Match": '"stale"'})
    assert response["ETag"] == document.etag
    assert "current_etag" not in problem(response)
    assert "current_etag" not in problem(send(client, "PUT", url, body_for("PUT")))


# --- rule 41: validators after a write ---------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_a_successful_write_answers_with_the_new_etag_and_last_modified(client, document, method):
    response = send(
        client, method, f"/docs/{document.pk}/", body_for(method), {"If-Match": document.etag}
    )
    assert response.status_code == 200
    document.refresh_from_db()
    assert response["ETag"] == document.etag
    assert_last_modified(response, document)
    assert client.get(f"/docs/{document.pk}/")["ETag"] == response["ETag"]


def test_a_successful_delete_answers_204_without_etag(client, document):
    response = send(client, "DELETE", f"/docs/{document.pk}/", headers={"If-Match": document.etag})
    assert response.status_code == 204
    assert "ETag" not in response.headers
    assert "Last-Modified" not in response.headers


# --- rule 43: opaque ETags ---------------------------------------------------------------------


def test_the_etag_reveals_neither_the_primary_key_nor_the_number_of_edits(client):
    document = Document.objects.create(pk=987654321, title="v0")
    url = f"/docs/{document.pk}/"
    etag = client.get(url)["ETag"]
    etags = [etag]
    for edit in range(1, 6):
        response = send(client, "PUT", url, {"title": f"v{edit}"}, {"If-Match": etag})
        assert response.status_code == 200
        etag = response["ETag"]
        etags.append(etag)
    opaque = [tag.strip('"') for tag in etags]
    assert len(set(opaque)) == len(opaque)
    for tag in opaque:
        assert str(document.pk) not in tag
        assert not tag.isdigit()
    # No shared stem such as "<pk>-<n>" or "v<n>": random tokens have no common affix. The
    # last of the 22 base64 characters holds the 128th and 127th bits only (4 values, so six
    # tokens share it once in 1,024 runs): the suffix is compared without it.
    assert common_prefix(opaque) == ""
    assert common_prefix([tag[-2::-1] for tag in opaque]) == ""


def test_a_deleted_and_recreated_document_never_repeats_an_etag(client, document):
    # Rule 42.
    pk, old = document.pk, document.etag
    assert send(client, "DELETE", f"/docs/{pk}/", headers={"If-Match": old}).status_code == 204
    response = send(
        client, "PUT", f"/create/docs/{pk}/", {"title": "again"}, {"If-None-Match": "*"}
    )
    assert response.status_code == 201
    assert response["ETag"] != old


# --- rule 44 at the HTTP level --------------------------------------------------------------------


@pytest.mark.parametrize("second_method", ["PUT", "PATCH", "DELETE"])
def test_the_second_of_two_writes_with_the_same_etag_is_412(client, document, second_method):
    url = f"/docs/{document.pk}/"
    etag = client.get(url)["ETag"]
    first = send(client, "PUT", url, {"title": "first"}, {"If-Match": etag})
    assert first.status_code == 200
    after_first = state(document.pk)
    second = send(client, second_method, url, body_for(second_method), {"If-Match": etag})
    assert second.status_code == 412
    assert second["ETag"] == first["ETag"]
    assert state(document.pk) == after_first
    assert after_first[0] == "first"  # type: ignore[index]


# --- query parity: protection costs no query ----------------------------------------------------


def count_queries(client: Any, method: str, url: str, body: Any, headers: dict[str, str]) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = send(client, method, url, body, headers)
    assert 200 <= response.status_code < 300, response.content
    return len(queries)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "DELETE"])
def test_the_protected_view_issues_as_many_queries_as_the_plain_one(client, method):
    plain = Document.objects.create(title="plain")
    protected = Document.objects.create(title="protected")
    body = body_for(method) if method in ("PUT", "PATCH") else None
    baseline = count_queries(client, method, f"/plain/docs/{plain.pk}/", body, {})
    measured = count_queries(
        client, method, f"/reuse/docs/{protected.pk}/", body, {"If-Match": protected.etag}
    )
    assert measured == baseline


# --- the per-view policy override at /custom/docs/<pk>/ (rule 30) --------------------------------


def test_patch_is_not_protected_where_the_view_protects_only_put_and_delete(client, document):
    # Rules 30 and 32.
    response = send(client, "PATCH", f"/custom/docs/{document.pk}/", {})
    assert response.status_code == 200
    assert state(document.pk)[0] == "patched"  # type: ignore[index]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_if_unmodified_since_alone_is_428_where_only_if_match_is_accepted(client, document, method):
    url = f"/custom/docs/{document.pk}/"
    served = client.get(url)["Last-Modified"]
    response = send(client, method, url, headers={"If-Unmodified-Since": served})
    assert response.status_code == 428
    assert response["Content-Type"].startswith(JSON)
    assert response["Cache-Control"] == "no-store"
    body = json.loads(response.content)
    assert set(body) == GUIDANCE_KEYS
    assert body["error"] == "precondition_required"
    assert body["required_headers"] == ["If-Match"]
    assert body["current_etag"] == document.etag
    assert body["example"] == f"If-Match: {document.etag}"
    assert body["steps"]
    assert all(isinstance(step, str) for step in body["steps"])
    assert body["documentation"] is None
    assert "If-Match" in body["message"]


def test_a_wildcard_is_allowed_where_the_view_allows_it(client, document):
    # Rule 21 (ALLOW_WILDCARD overridden per view).
    response = send(client, "PUT", f"/custom/docs/{document.pk}/", headers={"If-Match": "*"})
    assert response.status_code == 200


def test_a_wildcard_on_an_absent_document_is_404_where_the_view_allows_it(client):
    response = send(client, "PUT", "/custom/docs/999999/", headers={"If-Match": "*"})
    assert response.status_code == 404
    assert json.loads(response.content)["error"] == "not_found"


def test_a_stale_if_match_gets_the_guidance_format_where_the_view_chooses_it(client, document):
    stale = make_stale(document)
    response = send(client, "DELETE", f"/custom/docs/{document.pk}/", headers={"If-Match": stale})
    assert response.status_code == 412
    assert response["Content-Type"].startswith(JSON)
    assert response["ETag"] == document.etag
    body = json.loads(response.content)
    assert body["error"] == "precondition_failed"
    assert body["current_etag"] == document.etag
    assert len(body["steps"]) == 3
    assert state(document.pk) is not None


# --- the async view at /async/docs/<pk>/ ------------------------------------------------------


def test_async_get_answers_200_with_the_validators(async_client, document):
    # Rule 39.
    response = asend(async_client, "GET", f"/async/docs/{document.pk}/")
    assert response.status_code == 200
    assert response["ETag"] == document.etag
    assert_last_modified(response, document)


def test_async_conditional_get_is_304_without_calling_the_view(async_client, document):
    # Rule 28.
    calls = extra_views.CALLS.get("async_counted_document", 0)
    response = asend(
        async_client,
        "GET",
        f"/extra/async/counted/docs/{document.pk}/",
        headers={"If-None-Match": document.etag},
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == document.etag
    assert extra_views.CALLS.get("async_counted_document", 0) == calls
    response = asend(async_client, "GET", f"/extra/async/counted/docs/{document.pk}/")
    assert response.status_code == 200
    assert extra_views.CALLS["async_counted_document"] == calls + 1


@pytest.mark.parametrize("method", UNSAFE_METHODS)
def test_async_unconditional_write_is_428_and_changes_nothing(async_client, document, method):
    # Rules 29, 33.
    before = state(document.pk)
    response = asend(async_client, method, f"/async/docs/{document.pk}/", body_for(method))
    assert response.status_code == 428
    assert response["Cache-Control"] == "no-store"
    assert state(document.pk) == before


@pytest.mark.parametrize("method", UNSAFE_METHODS)
def test_async_write_with_a_stale_etag_is_412_and_changes_nothing(async_client, document, method):
    # Rules 19, 36.
    stale = make_stale(document)
    before = state(document.pk)
    response = asend(
        async_client, method, f"/async/docs/{document.pk}/", body_for(method), {"If-Match": stale}
    )
    assert response.status_code == 412
    assert response["ETag"] == document.etag
    assert state(document.pk) == before


@pytest.mark.parametrize("method", UNSAFE_METHODS)
def test_async_write_with_the_current_etag_succeeds_with_a_new_etag(async_client, document, method):
    # Rules 19, 41.
    old = document.etag
    response = asend(
        async_client, method, f"/async/docs/{document.pk}/", body_for(method), {"If-Match": old}
    )
    if method == "DELETE":
        assert response.status_code == 204
        assert "ETag" not in response.headers
        assert state(document.pk) is None
        return
    assert response.status_code == 200
    document.refresh_from_db()
    assert document.title == f"{method} title"
    assert response["ETag"] == document.etag != old
    assert_last_modified(response, document)


def test_async_second_write_with_the_same_etag_is_412(async_client, document):
    # Rule 44 at the HTTP level.
    url = f"/async/docs/{document.pk}/"
    etag = document.etag
    assert (
        asend(async_client, "PUT", url, {"title": "first"}, {"If-Match": etag}).status_code == 200
    )
    after_first = state(document.pk)
    assert (
        asend(async_client, "PUT", url, {"title": "second"}, {"If-Match": etag}).status_code == 412
    )
    assert state(document.pk) == after_first


def test_async_if_unmodified_since_passes_when_equal_and_fails_when_earlier(async_client, document):
    # Rules 22, 23.
    backdate(document.pk)
    url = f"/async/docs/{document.pk}/"
    before = state(document.pk)
    earlier = {"If-Unmodified-Since": "Tue, 01 Jul 2025 11:59:59 GMT"}
    assert asend(async_client, "PUT", url, body_for("PUT"), earlier).status_code == 412
    assert state(document.pk) == before
    equal = {"If-Unmodified-Since": STORED_AT_HTTP}
    assert asend(async_client, "PUT", url, body_for("PUT"), equal).status_code == 200


def test_async_absent_document_is_404(async_client):
    # Rule 12.
    response = asend(async_client, "PUT", "/async/docs/999999/", headers={"If-Match": '"x"'})
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM_JSON


def test_async_stale_if_match_with_invalid_body_is_412(async_client, document):
    # Rule 11.
    stale = make_stale(document)
    response = asend(
        async_client,
        "PUT",
        f"/async/docs/{document.pk}/",
        raw=b"{not json",
        headers={"If-Match": stale},
    )
    assert response.status_code == 412


def test_async_options_ignores_preconditions(async_client, document):
    # Rule 14: preconditions are not evaluated; the view itself answers the OPTIONS.
    response = asend(
        async_client, "OPTIONS", f"/async/docs/{document.pk}/", headers={"If-Match": '"x"'}
    )
    assert response.status_code == 200


def test_preconditions_object_is_a_deprecated_alias_of_instance() -> None:
    document = Document.objects.create(title="a")
    decision = Decision(outcome=Outcome.PROCEED, reason=Reason.NO_PRECONDITIONS, method="GET")
    context = PreconditionContext(
        instance=document, policy=Policy.from_settings(), decision=decision
    )
    with pytest.warns(DeprecationWarning, match=r"request\.preconditions\.instance"):
        assert context.object is document
