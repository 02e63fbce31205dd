"""The DRF adapter against CONFORMANCE.md, through DRF's APIClient.

Most tests use ``DocumentViewSet``: the minimal use of the issue (the mixin, a queryset and a
plain ``ModelSerializer``, nothing else configured). Rules are cited by number. The
multi-writer race on PostgreSQL/MariaDB lives in the concurrency tests; here the race is made
deterministic (a rival write between the check and the save).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.http import http_date, parse_http_date
from rest_framework.test import APIClient
from rest_framework.views import exception_handler

from django_preconditions import signals
from django_preconditions.models import stored_timestamp
from django_preconditions.rest_framework import (
    MalformedPrecondition,
    PreconditionAPIException,
    PreconditionFailed,
    PreconditionRequired,
)
from django_preconditions.transactions import ATTEMPTS
from tests.support.conditions import TIME_BOUND_SECONDS
from tests.support.documents import settle
from tests.support.error_formats import GUIDANCE_KEYS
from tests.support.validators import assert_last_modified
from tests.testapp import drf_views
from tests.testapp.models import Document
from tests.testapp.serializers import DocumentSerializer

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def url(document: Document | int, prefix: str = "docs") -> str:
    pk = document if isinstance(document, int) else document.pk
    return f"/api/{prefix}/{pk}/"


def stored(document: Document) -> Document:
    return Document.objects.get(pk=document.pk)


def put(client: APIClient, target: str, data: dict[str, Any] | None = None, **headers: str) -> Any:
    return client.put(target, data or {"title": "edited"}, format="json", headers=headers)


def patch(
    client: APIClient, target: str, data: dict[str, Any] | None = None, **headers: str
) -> Any:
    return client.patch(target, data or {"title": "patched"}, format="json", headers=headers)


# --- A. Parsing -----------------------------------------------------------------------------


def test_rule_1_if_match_passes_when_any_listed_tag_is_current(client, document):
    response = put(client, url(document), **{"If-Match": f'"other", {document.etag}'})

    assert response.status_code == 200


def test_rule_3_entity_tags_compare_case_sensitively(client, document):
    response = put(client, url(document), **{"If-Match": document.etag.upper()})

    assert response.status_code == 412


@pytest.mark.parametrize("value", ["v2", '*, "v2"', "", '"unbalanced'])
def test_rule_5_malformed_if_match_is_400_naming_the_header_never_absent(client, document, value):
    response = put(client, url(document), **{"If-Match": value})

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == 400
    assert body["header"] == "If-Match"
    assert "quoted entity-tags" in body["expected"]
    assert stored(document).version_token == document.version_token


def test_rule_5_malformed_if_none_match_on_a_write_is_400(client, document):
    response = put(client, url(document), **{"If-Match": document.etag, "If-None-Match": "x"})

    assert response.status_code == 400
    assert response.json()["header"] == "If-None-Match"


def test_rule_7_invalid_if_unmodified_since_is_ignored_so_a_protected_write_gets_428(
    client, document
):
    response = put(client, url(document), **{"If-Unmodified-Since": "yesterday"})

    assert response.status_code == 428


def test_rule_8_huge_headers_are_answered_quickly_never_500(client, document):
    many_tags = ", ".join(f'"t{i}"' for i in range(10_000))
    started = time.perf_counter()

    listed = put(client, url(document), **{"If-Match": many_tags})
    huge = put(client, url(document), **{"If-Match": '"' + "a" * 100_000})

    assert listed.status_code == 412
    assert huge.status_code == 400
    assert time.perf_counter() - started < TIME_BOUND_SECONDS  # a complexity guard


# --- B. Comparison --------------------------------------------------------------------------


def test_rule_10_weak_if_match_of_the_current_token_passes_by_default(client, document):
    response = put(client, url(document), **{"If-Match": f"W/{document.etag}"})

    assert response.status_code == 200


@override_settings(PRECONDITIONS={"WEAK_IF_MATCH": False})
def test_rule_10_strict_setting_applies_strong_comparison(client, document):
    response = put(client, url(document), **{"If-Match": f"W/{document.etag}"})

    assert response.status_code == 412


def test_rule_10_get_put_round_trip_through_gzip_middleware_succeeds(client):
    document = Document.objects.create(title="long", body="lorem ipsum " * 100)
    with override_settings(
        MIDDLEWARE=["django.middleware.gzip.GZipMiddleware", *settings.MIDDLEWARE]
    ):
        read = client.get(url(document), headers={"Accept-Encoding": "gzip"})
        assert read["Content-Encoding"] == "gzip"
        assert read["ETag"] == f"W/{document.etag}"  # GZipMiddleware weakened it

        response = put(client, url(document), **{"If-Match": read["ETag"]})

    assert response.status_code == 200


# --- C. When preconditions are evaluated ----------------------------------------------------


def test_rule_11_stale_if_match_with_an_invalid_body_is_412_not_400(client, document):
    target = url(document, "strict/docs")
    stale = put(client, target, {"title": "far too long a title"}, **{"If-Match": '"stale"'})
    current = put(client, target, {"title": "far too long a title"}, **{"If-Match": document.etag})

    assert stale.status_code == 412
    assert current.status_code == 400  # the body is validated once the preconditions pass
    assert "title" in current.json()


def test_rule_11_the_body_is_not_parsed_before_the_preconditions(client, document):
    response = client.put(
        url(document),
        b"{not json",
        content_type="application/json",
        headers={"If-Match": '"stale"'},
    )

    assert response.status_code == 412


def test_rule_12_unauthenticated_is_401_whatever_the_preconditions(client, alice):
    document = Document.objects.create(title="mine", owner=alice)

    missing = put(client, url(document, "owned/docs"))
    stale = put(client, url(document, "owned/docs"), **{"If-Match": '"stale"'})

    assert missing.status_code == stale.status_code == 401
    assert "ETag" not in stale


def test_rule_12_forbidden_is_403_whatever_the_preconditions(client, alice):
    shared = Document.objects.create(title="shared")  # readable by all, writable by nobody
    client.force_authenticate(alice)

    missing = put(client, url(shared, "owned/docs"))
    stale = put(client, url(shared, "owned/docs"), **{"If-Match": '"stale"'})

    assert missing.status_code == stale.status_code == 403
    assert "ETag" not in stale
    assert shared.version_token not in stale.content.decode()


def test_rule_12_absent_resource_is_404_whatever_the_preconditions(client):
    assert put(client, url(9999), **{"If-Match": '"stale"'}).status_code == 404
    assert put(client, url(9999)).status_code == 404


def test_rule_12_unsupported_method_is_405_whatever_the_preconditions(client, document):
    assert put(client, url(document, "readonly/docs")).status_code == 405


@pytest.mark.parametrize(
    "headers",
    [{"If-None-Match": "*"}, {"If-Match": "unquoted"}, {}],
    ids=["inm-star", "bad", "none"],
)
def test_rule_12_a_post_the_view_does_not_handle_is_405_before_any_precondition(client, headers):
    response = client.post("/api/readonly/docs/", {"title": "x"}, format="json", headers=headers)

    assert response.status_code == 405
    assert not Document.objects.exists()


def test_rule_12_a_read_only_viewset_never_creates_by_put(client, document, monkeypatch):
    # precondition_allow_create on a viewset without update(): PUT stays 405, never a write.
    monkeypatch.setattr(
        drf_views.ReadOnlyDocumentViewSet, "precondition_allow_create", True, raising=False
    )
    absent = put(client, url(424242, "readonly/docs"), **{"If-None-Match": "*"})
    existing = put(client, url(document, "readonly/docs"))

    assert (absent.status_code, existing.status_code) == (405, 405)
    assert list(Document.objects.values_list("pk", flat=True)) == [document.pk]
    assert "current_etag" not in existing.content.decode()


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("get", {"If-None-Match": "*"}),
        ("get", {"If-Match": '"stale"'}),
        ("put", {"If-Match": '"stale"'}),
        ("put", {}),
        ("delete", {"If-Match": "*"}),
    ],
)
def test_rule_13_a_caller_who_cannot_see_the_resource_gets_404_and_no_etag(
    client, alice, bob, method, headers
):
    document = Document.objects.create(title="bob's", owner=bob)
    client.force_authenticate(alice)

    response = getattr(client, method)(url(document, "owned/docs"), headers=headers)

    assert response.status_code == 404
    assert "ETag" not in response
    assert document.version_token not in response.content.decode()


def test_rule_14_options_ignores_preconditions_and_still_describes_put(client, document):
    response = client.options(url(document), headers={"If-Match": '"stale"'})

    assert response.status_code == 200
    assert "PUT" in response.json()["actions"]


# --- D. Precedence --------------------------------------------------------------------------


def test_rule_15_if_match_makes_if_unmodified_since_irrelevant(client, document):
    future = http_date(time.time() + 3600)
    ancient = http_date(0)

    stale = put(client, url(document), **{"If-Match": '"v1"', "If-Unmodified-Since": future})
    current = put(
        client, url(document), **{"If-Match": document.etag, "If-Unmodified-Since": ancient}
    )

    assert stale.status_code == 412
    assert current.status_code == 200


def test_rule_16_if_modified_since_is_ignored_when_if_none_match_is_sent(client, document):
    last_modified = client.get(url(document))["Last-Modified"]

    response = client.get(
        url(document), headers={"If-None-Match": '"other"', "If-Modified-Since": last_modified}
    )

    assert response.status_code == 200


def test_rule_17_if_match_and_if_none_match_of_the_current_tag(client, document):
    headers = {"If-Match": document.etag, "If-None-Match": document.etag}

    assert client.get(url(document), headers=headers).status_code == 304
    assert put(client, url(document), **headers).status_code == 412
    assert stored(document).title == "draft"


# --- E. If-Match ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_rule_19_a_current_if_match_succeeds_and_a_stale_one_changes_nothing(
    client, document, method
):
    stale = getattr(client, method)(
        url(document), {"title": "x"}, format="json", headers={"If-Match": '"v1"'}
    )
    assert stale.status_code == 412
    assert stored(document).version_token == document.version_token

    current = getattr(client, method)(
        url(document), {"title": "x"}, format="json", headers={"If-Match": document.etag}
    )

    assert current.status_code == (204 if method == "delete" else 200)
    if method != "delete":
        assert current["ETag"] not in (None, document.etag)


def test_rule_20_get_with_a_stale_if_match_is_412(client, document):
    response = client.get(url(document), headers={"If-Match": '"v1"'})

    assert response.status_code == 412
    assert response["ETag"] == document.etag


def test_rule_21_wildcard_does_not_satisfy_a_protected_endpoint_by_default(client, document):
    response = put(client, url(document), **{"If-Match": "*"})

    assert response.status_code == 428
    assert "If-Match: *" in response.json()["detail"]
    assert response.json()["reason"] == "wildcard_not_accepted"


def test_rule_21_wildcard_passes_where_the_policy_allows_it(client, document):
    response = client.delete(url(document, "custom/docs"), headers={"If-Match": "*"})

    assert response.status_code == 204


# --- F. If-Unmodified-Since -----------------------------------------------------------------


def test_rule_22_if_unmodified_since_equal_to_the_served_last_modified_passes(client, document):
    settle(document)
    last_modified = client.get(url(document))["Last-Modified"]

    response = put(client, url(document), **{"If-Unmodified-Since": last_modified})

    assert response.status_code == 200


def test_rule_23_an_earlier_if_unmodified_since_is_412_and_changes_nothing(client, document):
    response = put(client, url(document), **{"If-Unmodified-Since": http_date(0)})

    assert response.status_code == 412
    assert stored(document).version_token == document.version_token


def test_rule_24_a_stale_if_unmodified_since_loses_even_within_the_same_second(client, document):
    read = client.get(url(document))
    other = put(client, url(document), {"title": "other writer"}, **{"If-Match": read["ETag"]})
    assert other.status_code == 200

    stale = put(client, url(document), **{"If-Unmodified-Since": read["Last-Modified"]})

    assert stale.status_code == 412
    assert stored(document).title == "other writer"


# --- G. If-None-Match -----------------------------------------------------------------------


def test_rule_26_put_with_if_none_match_star_creates_an_absent_resource(client):
    response = put(client, url(9001, "creating/docs"), {"title": "new"}, **{"If-None-Match": "*"})

    assert response.status_code == 201
    created = Document.objects.get(pk=9001)
    assert response["ETag"] == created.etag
    assert_last_modified(response, created)
    assert response["Location"] == "http://testserver/api/creating/docs/9001/"
    assert response.json()["title"] == "new"


def test_rule_26_put_with_if_none_match_star_on_an_existing_resource_is_412(client, document):
    response = put(client, url(document, "creating/docs"), **{"If-None-Match": "*"})

    assert response.status_code == 412
    assert response.json()["reason"] == "if_none_match_failed"
    assert stored(document).version_token == document.version_token


def test_rule_26_create_by_put_is_opt_in(client):
    response = put(client, url(9002), {"title": "new"}, **{"If-None-Match": "*"})

    assert response.status_code == 404
    assert not Document.objects.filter(pk=9002).exists()


def test_rule_26_create_by_put_losing_a_race_to_another_create_is_412(client, monkeypatch):
    original = drf_views.CreatingDocumentViewSet.get_serializer

    def rival_creates_meanwhile(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.request.method == "PUT" and not Document.objects.filter(pk=9003).exists():
            Document.objects.create(pk=9003, title="rival")  # after the 404, before our INSERT
        return original(self, *args, **kwargs)

    monkeypatch.setattr(
        drf_views.CreatingDocumentViewSet, "get_serializer", rival_creates_meanwhile
    )

    response = put(client, url(9003, "creating/docs"), {"title": "mine"}, **{"If-None-Match": "*"})

    assert response.status_code == 412
    assert response["ETag"] == Document.objects.get(pk=9003).etag
    assert Document.objects.get(pk=9003).title == "rival"


def test_rule_26_create_by_put_with_if_match_on_an_absent_resource_is_412(client):
    response = put(client, url(9004, "creating/docs"), **{"If-Match": '"v1"'})

    assert response.status_code == 412
    assert not Document.objects.filter(pk=9004).exists()


def test_rule_27_post_to_the_collection_with_if_none_match_star_is_412(client):
    response = client.post(
        "/api/docs/", {"title": "new"}, format="json", headers={"If-None-Match": "*"}
    )

    assert response.status_code == 412
    assert not Document.objects.exists()


def test_rule_28_matching_if_none_match_is_304_without_running_the_serializer(
    client, document, monkeypatch
):
    plain = client.get(url(document))

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the serializer ran")

    monkeypatch.setattr(DocumentSerializer, "to_representation", fail)
    for etag in (document.etag, f"W/{document.etag}", f'"other", {document.etag}'):
        response = client.get(url(document), headers={"If-None-Match": etag})

        assert response.status_code == 304
        assert response.content == b""
        assert response["ETag"] == document.etag
        assert response["Last-Modified"] == plain["Last-Modified"]
        assert response["Vary"] == plain["Vary"]
        assert "Content-Type" not in response


def test_rule_28_head_and_if_modified_since_are_304_too(client, document):
    settle(document)
    last_modified = client.get(url(document))["Last-Modified"]

    head = client.head(url(document), headers={"If-None-Match": document.etag})
    since = client.get(url(document), headers={"If-Modified-Since": last_modified})

    assert head.status_code == since.status_code == 304


# --- H. 428 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_rule_29_unconditional_writes_are_428_and_change_nothing(client, document, method):
    response = getattr(client, method)(url(document), {"title": "x"}, format="json")

    assert response.status_code == 428
    assert stored(document).version_token == document.version_token


def test_rule_30_view_attributes_narrow_the_accepted_headers(client, document):
    last_modified = client.get(url(document, "custom/docs"))["Last-Modified"]

    response = put(client, url(document, "custom/docs"), **{"If-Unmodified-Since": last_modified})

    assert response.status_code == 428
    assert response.json()["required_headers"] == ["If-Match"]


def test_rule_30_precondition_actions_override_the_policy_per_action(client, document):
    response = patch(client, url(document, "custom/docs"))  # partial_update: PATCH unprotected

    assert response.status_code == 200


def test_rule_30_extra_actions_take_precondition_keywords(client, document):
    target = url(document, "custom/docs") + "publish/"

    assert client.post(target).status_code == 428
    response = client.post(target, headers={"If-Match": document.etag})

    assert response.status_code == 200
    assert response["ETag"] == stored(document).etag != document.etag


def test_rule_30_unprotected_actions_still_evaluate_preconditions_sent(client, document):
    target = url(document, "custom/docs") + "touch/"

    assert client.post(target, headers={"If-Match": '"stale"'}).status_code == 412
    assert client.post(target).status_code == 200


def test_rule_30_settings_views_entries_apply_per_action(client, document):
    entry = {"tests.testapp.drf_views.DocumentViewSet.destroy": {"methods": ["PUT", "PATCH"]}}
    with override_settings(PRECONDITIONS={"VIEWS": entry}):
        assert client.delete(url(document)).status_code == 204


@override_settings(PRECONDITIONS={"METHODS": ["DELETE"]})
def test_rule_30_global_settings_apply_to_the_mixin(client, document):
    assert put(client, url(document)).status_code == 200
    assert client.delete(url(document)).status_code == 428


@pytest.mark.parametrize("method", ["get", "head", "options"])
def test_rule_32_never_428_for_safe_methods(client, document, method):
    assert getattr(client, method)(url(document)).status_code == 200


def test_rule_33_428_is_not_stored(client, document):
    assert put(client, url(document))["Cache-Control"] == "no-store"


# --- I. Error bodies ------------------------------------------------------------------------


def test_rule_34_problem_format_by_default(client, document):
    missing = put(client, url(document))
    stale = put(client, url(document), **{"If-Match": '"stale"'})

    for response in (missing, stale):
        assert response["Content-Type"] == PROBLEM
        body = response.json()
        assert body["status"] == response.status_code
        assert body["instance"] == url(document)
        assert {"type", "title", "detail"} <= body.keys()
    assert missing.json()["type"] != stale.json()["type"]


def test_rule_34_json_guidance_format(client, document):
    response = put(client, url(document, "guidance/docs"))

    assert response.status_code == 428
    # As the other adapters send it (docs/errors.md).
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert set(response.json()) == GUIDANCE_KEYS


def test_rule_34_drf_format(client, document):
    response = put(client, url(document, "drf-format/docs"), **{"If-Match": '"stale"'})

    assert response.status_code == 412
    assert response.json() == {"detail": response.json()["detail"], "code": "precondition_failed"}


def test_rule_34_callable_format(client, document):
    response = put(client, url(document, "envelope/docs"))

    assert response.status_code == 428
    assert response.json()["ok"] is False
    assert response.json()["error"]["code"] == "precondition_required"
    assert response["Cache-Control"] == "no-store"


SEEN: list[Exception] = []


def recording_exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    SEEN.append(exc)
    return exception_handler(exc, context)


def enveloping_exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    response = exception_handler(exc, context)
    if response is not None:
        response.data = {"error": {"status": response.status_code, "detail": str(exc)}}
    return response


@pytest.mark.parametrize(
    ("headers", "exception_class", "status_code", "code"),
    [
        ({}, PreconditionRequired, 428, "precondition_required"),
        ({"If-Match": '"stale"'}, PreconditionFailed, 412, "precondition_failed"),
        ({"If-Match": "stale"}, MalformedPrecondition, 400, "malformed_precondition"),
    ],
)
def test_rule_34_the_project_exception_handler_sees_api_exceptions(
    client, document, headers, exception_class, status_code, code
):
    SEEN.clear()
    handler = "tests.test_rest_framework.recording_exception_handler"
    with override_settings(REST_FRAMEWORK={"EXCEPTION_HANDLER": handler}):
        response = put(client, url(document), **headers)

    assert response.status_code == status_code
    [exc] = SEEN
    assert isinstance(exc, exception_class)
    assert isinstance(exc, PreconditionAPIException)
    assert exc.status_code == exception_class.status_code == status_code
    assert exc.default_code == code
    assert exc.get_codes() == code
    assert exc.error is not None
    assert exc.error.status == status_code
    assert response.json()["status"] == status_code  # still the configured format


def test_rule_34_a_body_shaped_by_the_project_handler_is_kept(client, document):
    handler = "tests.test_rest_framework.enveloping_exception_handler"
    with override_settings(REST_FRAMEWORK={"EXCEPTION_HANDLER": handler}):
        response = put(client, url(document), **{"If-Match": '"stale"'})

    assert response.status_code == 412
    assert response.json()["error"]["status"] == 412
    assert response["ETag"] == document.etag


@override_settings(PRECONDITIONS={"DOCUMENTATION_URL": "https://example.com/api/errors/"})
def test_rule_35_428_tells_how_to_comply(client, document):
    body = put(client, url(document)).json()

    assert body["required_headers"] == ["If-Match", "If-Unmodified-Since"]
    assert body["example"] == f"If-Match: {document.etag}"
    assert any(url(document) in step for step in body["steps"])
    assert body["documentation"] == "https://example.com/api/errors/"
    assert body["type"].startswith("https://example.com/api/errors/")


def test_rule_36_412_carries_the_current_validators_and_says_to_re_read(client, document):
    response = put(client, url(document), **{"If-Match": '"stale"'})

    assert response["ETag"] == document.etag
    assert_last_modified(response, document)
    assert response["Cache-Control"] == "no-store"
    assert "re-read" in response.json()["detail"]


@override_settings(PRECONDITIONS={"INCLUDE_CURRENT_ETAG": False})
def test_rule_37_the_current_etag_can_be_kept_out_of_error_bodies(client, document):
    response = put(client, url(document), **{"If-Match": '"stale"'})

    assert "current_etag" not in response.json()
    assert document.version_token not in response.content.decode()


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_rule_38_api_clients_get_json_error_bodies(client, document, accept):
    headers = {"If-Match": '"stale"'} | ({"Accept": accept} if accept else {})

    response = put(client, url(document), **headers)

    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 412


# --- J. Validators on success ---------------------------------------------------------------


def test_rule_39_get_carries_a_strong_etag_and_last_modified(client, document):
    response = client.get(url(document))

    assert response.status_code == 200
    assert response["ETag"] == document.etag
    assert not response["ETag"].startswith("W/")
    assert parse_http_date(response["Last-Modified"]) <= time.time()


def test_rule_39_the_token_is_read_only_in_representations(client, document):
    body = client.get(url(document)).json()
    assert body["version_token"] == document.version_token

    response = put(
        client,
        url(document),
        {"title": "x", "version_token": "forged", "last_modified": "2000-01-01T00:00:00Z"},
        **{"If-Match": document.etag},
    )

    assert response.status_code == 200
    assert stored(document).version_token not in ("forged", document.version_token)
    assert response.json()["version_token"] == stored(document).version_token


def test_rule_40_post_is_201_with_location_and_etag(client):
    response = client.post("/api/docs/", {"title": "new"}, format="json")

    created = Document.objects.get()
    assert response.status_code == 201
    assert response["ETag"] == created.etag
    assert_last_modified(response, created)
    assert response["Location"] == f"http://testserver/api/docs/{created.pk}/"
    assert client.get(response["Location"])["ETag"] == created.etag


def test_rule_40_generic_views_find_location_through_the_detail_url_name(client):
    response = client.post("/api/generic/docs/", {"title": "new"}, format="json")

    created = Document.objects.get()
    assert response.status_code == 201
    assert response["ETag"] == created.etag
    assert response["Location"] == f"http://testserver/api/generic/docs/{created.pk}/"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_rule_41_writes_answer_with_the_new_validators(client, document, method):
    response = getattr(client, method)(
        url(document), {"title": "x"}, format="json", headers={"If-Match": document.etag}
    )

    current = stored(document)
    assert response["ETag"] == current.etag != document.etag
    # The stored second, or the second before while the write's second has not settled
    # (rules 24, 39): which one depends on when the response was made.
    served = parse_http_date(response["Last-Modified"])
    assert (
        stored_timestamp(current.last_modified) - 1
        <= served
        <= stored_timestamp(current.last_modified)
    )
    assert response.json()["version_token"] == current.version_token


def test_rule_41_delete_carries_no_etag(client, document):
    response = client.delete(url(document), headers={"If-Match": document.etag})

    assert response.status_code == 204
    assert "ETag" not in response
    assert not Document.objects.filter(pk=document.pk).exists()


def test_rule_42_a_re_created_resource_never_repeats_an_etag(client):
    first = put(client, url(9005, "creating/docs"), {"title": "a"}, **{"If-None-Match": "*"})
    client.delete(url(9005, "creating/docs"), headers={"If-Match": first["ETag"]})

    second = put(client, url(9005, "creating/docs"), {"title": "a"}, **{"If-None-Match": "*"})

    assert second.status_code == 201
    assert second["ETag"] != first["ETag"]


# --- K. Atomicity ---------------------------------------------------------------------------


def test_rule_44_the_same_etag_twice_gives_one_success_and_one_412(client, document):
    etag = client.get(url(document))["ETag"]

    first = put(client, url(document), {"title": "first"}, **{"If-Match": etag})
    second = put(client, url(document), {"title": "second"}, **{"If-Match": etag})

    assert (first.status_code, second.status_code) == (200, 412)
    assert stored(document).title == "first"


def test_rule_44_the_write_itself_is_the_compare_and_swap(client, document):
    # A rival write lands after the precondition check and before the save.
    response = put(
        client, url(document, "racing/docs"), {"title": "mine"}, **{"If-Match": document.etag}
    )

    current = stored(document)
    assert response.status_code == 412
    assert current.title == "the rival's change"
    assert response["ETag"] == current.etag
    assert "another request changed" in response.json()["detail"]


def test_rule_44_delete_is_a_compare_and_swap_too(client, document):
    response = client.delete(url(document, "racing/docs"), headers={"If-Match": document.etag})

    assert response.status_code == 412
    assert stored(document).title == "changed meanwhile"


def test_rule_44_the_update_statement_carries_the_expected_token(client, document):
    with CaptureQueriesContext(connection) as queries:
        put(client, url(document), **{"If-Match": document.etag})

    [update] = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert "version_token" in update.split("WHERE", 1)[1]
    assert document.version_token in update


def test_rule_45_a_delete_between_read_and_write_is_412_never_500_or_resurrection(client, document):
    target = url(document, "racing/docs") + "?rival=delete"

    response = put(client, target, {"title": "mine"}, **{"If-Match": document.etag})

    assert response.status_code in (404, 412)
    assert not Document.objects.filter(pk=document.pk).exists()


def test_rule_45_a_delete_before_the_write_is_404(client, document):
    etag = client.get(url(document))["ETag"]
    Document.objects.filter(pk=document.pk).delete()

    assert put(client, url(document), **{"If-Match": etag}).status_code == 404


def _database_locked() -> None:
    try:
        raise sqlite3.OperationalError("database is locked")
    except sqlite3.OperationalError as exc:
        raise OperationalError("database is locked") from exc


@pytest.mark.django_db(transaction=True)  # ATOMIC_REQUESTS as in production
@pytest.mark.usefixtures("atomic_requests")  # rolled back: may run again
def test_rule_47_database_conflict_on_an_unchanged_row_is_retried_then_503(
    client, document, monkeypatch
):
    calls: list[int] = []

    def locked(self: Any, serializer: Any) -> None:
        calls.append(1)
        _database_locked()

    monkeypatch.setattr(drf_views.DocumentViewSet, "perform_update", locked, raising=False)

    response = put(client, url(document), **{"If-Match": document.etag})

    assert len(calls) == ATTEMPTS  # run again: the client's copy was not stale
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "database_conflict"
    assert "nothing changed" in response.json()["detail"].lower()
    assert Document.objects.get(pk=document.pk).version_token == document.version_token


def test_rule_47_database_conflict_after_the_row_changed_is_412_with_its_etag(
    client, document, monkeypatch
):
    def changed_then_locked(self: Any, serializer: Any) -> None:
        Document.objects.filter(pk=document.pk).update(version_token="theirs")
        _database_locked()

    monkeypatch.setattr(
        drf_views.DocumentViewSet, "perform_update", changed_then_locked, raising=False
    )

    response = put(client, url(document), **{"If-Match": document.etag})

    assert response.status_code == 412
    assert response["ETag"] == '"theirs"'


@pytest.mark.django_db(transaction=True)  # ATOMIC_REQUESTS as in production
@pytest.mark.usefixtures("atomic_requests")  # rolled back: may run again
def test_rule_47_a_retry_that_succeeds_answers_200(client, document, monkeypatch):
    calls: list[int] = []
    original = drf_views.DocumentViewSet.perform_update

    def locked_once(self: Any, serializer: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            _database_locked()
        original(self, serializer)

    monkeypatch.setattr(drf_views.DocumentViewSet, "perform_update", locked_once, raising=False)

    response = put(client, url(document), {"title": "second try"}, **{"If-Match": document.etag})

    assert response.status_code == 200
    assert len(calls) == 2
    assert Document.objects.get(pk=document.pk).title == "second try"


# --- Query counts ---------------------------------------------------------------------------


def _count(client: APIClient, method: str, target: str, headers: dict[str, str]) -> int:
    data = {"title": "x"} if method in ("put", "patch") else None
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(target, data, format="json", headers=headers)
    assert 200 <= response.status_code < 300, response.content
    return len(queries.captured_queries)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_protected_actions_issue_exactly_the_queries_of_a_plain_model_viewset(client, method):
    plain = Document.objects.create(title="plain")
    protected = Document.objects.create(title="protected")

    baseline = _count(client, method, url(plain, "plain/docs"), {})
    counted = _count(client, method, url(protected), {"If-Match": protected.etag})

    assert counted == baseline


def test_list_with_its_collection_etag_issues_the_queries_of_a_plain_list(client):
    Document.objects.bulk_create(Document(title=f"d{i}") for i in range(5))

    assert _count(client, "get", "/api/docs/", {}) == _count(client, "get", "/api/plain/docs/", {})


def test_304_costs_one_query(client, document):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(document), headers={"If-None-Match": document.etag})

    assert response.status_code == 304
    assert len(queries.captured_queries) == 1


# --- Lists ----------------------------------------------------------------------------------


@pytest.fixture
def fifty() -> list[Document]:
    Document.objects.bulk_create(Document(title=f"doc {i}") for i in range(50))
    return list(Document.objects.order_by("pk"))


def test_list_items_carry_their_own_token_and_can_be_written_from_the_list(client, fifty):
    items = client.get("/api/docs/").json()

    assert len(items) == 50
    # The viewset's queryset has no ordering: compare by id (PostgreSQL returns any order).
    assert {item["id"]: item["version_token"] for item in items} == {
        d.pk: d.version_token for d in fifty
    }
    last = items[-1]
    response = put(client, url(last["id"]), **{"If-Match": f'"{last["version_token"]}"'})
    assert response.status_code == 200


@pytest.mark.parametrize("position", [0, 19, 20, 21, 49])
def test_the_collection_etag_changes_when_any_item_of_a_50_item_page_changes(
    client, fifty, position
):
    before = client.get("/api/docs/")["ETag"]
    assert before.startswith('W/"')

    fifty[position].save()

    assert client.get("/api/docs/")["ETag"] != before


def test_the_collection_etag_is_stable_and_revalidates_with_304(client, fifty):
    etag = client.get("/api/docs/")["ETag"]

    assert client.get("/api/docs/")["ETag"] == etag
    response = client.get("/api/docs/", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


def test_the_collection_etag_changes_with_membership(client, fifty):
    before = client.get("/api/docs/")["ETag"]
    fifty[10].delete()
    after_delete = client.get("/api/docs/")["ETag"]
    Document.objects.create(title="new")

    assert len({before, after_delete, client.get("/api/docs/")["ETag"]}) == 3


def test_a_paginated_page_etag_covers_its_items_and_its_envelope(client, fifty):
    Document.objects.bulk_create(Document(title=f"more {i}") for i in range(10))
    page_two_item = Document.objects.order_by("pk")[55]
    first = client.get("/api/paged/docs/")
    assert len(first.json()["results"]) == 50

    page_two_item.save()  # not on page 1: page 1's representation is unchanged
    unchanged = client.get("/api/paged/docs/")["ETag"]
    fifty[49].save()
    item_changed = client.get("/api/paged/docs/")["ETag"]
    Document.objects.create(title="one more")  # changes "count" on page 1
    count_changed = client.get("/api/paged/docs/")["ETag"]

    assert unchanged == first["ETag"]
    assert len({first["ETag"], item_changed, count_changed}) == 3


# --- Plumbing -------------------------------------------------------------------------------


def test_signals_are_sent_with_the_view_class(client, document):
    received: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    signals.precondition_failed.connect(receiver)
    signals.precondition_required.connect(receiver)
    try:
        put(client, url(document), **{"If-Match": '"stale"'})
        put(client, url(document))
    finally:
        signals.precondition_failed.disconnect(receiver)
        signals.precondition_required.disconnect(receiver)

    assert [str(r["reason"]) for r in received] == ["if_match_failed", "precondition_missing"]
    assert all(r["sender"] is drf_views.DocumentViewSet for r in received)


def test_the_handler_sees_the_loaded_object_and_decision(client, document, monkeypatch):
    seen: list[Any] = []
    original = drf_views.DocumentViewSet.perform_update

    def spy(self: Any, serializer: Any) -> None:
        seen.append(self.request.preconditions)
        original(self, serializer)

    monkeypatch.setattr(drf_views.DocumentViewSet, "perform_update", spy)
    put(client, url(document), **{"If-Match": document.etag})

    [context] = seen
    assert context.instance.pk == document.pk
    assert context.decision.proceeds
    assert context.expectation.written


def test_views_overriding_get_object_without_super_are_still_protected(client, document):
    target = url(document, "own-lookup/docs")

    assert put(client, target).status_code == 428
    assert put(client, target, **{"If-Match": '"stale"'}).status_code == 412
    assert client.get(target, headers={"If-None-Match": document.etag}).status_code == 304
    response = put(client, target, **{"If-Match": document.etag})
    assert response.status_code == 200
    assert response["ETag"] == stored(document).etag


def test_views_overriding_get_object_keep_the_compare_and_swap(client, document, monkeypatch):
    def rival_then_save(self: Any, serializer: Any) -> None:
        Document.objects.filter(pk=serializer.instance.pk).update(title="rival")
        serializer.save()

    monkeypatch.setattr(
        drf_views.OwnLookupDocumentViewSet, "perform_update", rival_then_save, raising=False
    )

    response = put(client, url(document, "own-lookup/docs"), **{"If-Match": document.etag})

    assert response.status_code == 412
    assert stored(document).title == "rival"


def test_generic_detail_views_are_protected_too(client, document):
    target = f"/api/generic/docs/{document.pk}/"

    assert put(client, target).status_code == 428
    assert put(client, target, **{"If-Match": '"stale"'}).status_code == 412
    assert put(client, target, **{"If-Match": document.etag}).status_code == 200


def test_last_modified_is_never_in_the_future(client, document):
    put(client, url(document), **{"If-Match": document.etag})
    response = put(client, url(document), **{"If-Match": stored(document).etag})

    assert parse_http_date(response["Last-Modified"]) <= timezone.now().timestamp()


@pytest.mark.parametrize("path", ["/api/docs/", "/api/paged/docs/"])
def test_rule_28_list_page_304_is_decided_before_any_item_is_serialized(
    client, fifty, monkeypatch, path
):
    etag = client.get(path)["ETag"]

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the serializer ran")

    monkeypatch.setattr(DocumentSerializer, "to_representation", fail)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    # One query: the page's tokens (paginated: with their count, in the same statement).
    assert len(queries.captured_queries) == 1


def test_rule_28_a_1000_item_list_304_reads_only_primary_keys_and_versions(client, monkeypatch):
    Document.objects.bulk_create(Document(title=f"doc {i}") for i in range(1000))
    etag = client.get("/api/docs/")["ETag"]

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a row was instantiated")

    with monkeypatch.context() as patched:
        patched.setattr(Document, "from_db", classmethod(fail))
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/docs/", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response["ETag"] == etag
    [query] = queries.captured_queries
    columns = query["sql"].split(" FROM ")[0]
    assert "version_token" in columns
    assert "title" not in columns


@pytest.mark.parametrize("position", [0, 500, 999])
def test_the_etag_of_a_1000_item_list_changes_when_any_item_changes(client, position):
    Document.objects.bulk_create(Document(title=f"doc {i}") for i in range(1000))
    stale = client.get("/api/docs/")["ETag"]

    Document.objects.order_by("pk")[position].save()
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/docs/", headers={"If-None-Match": stale})

    assert response.status_code == 200
    assert len(response.json()) == 1000
    assert response["ETag"] != stale
    # The token-only query, then the full list.
    assert len(queries.captured_queries) == 2
    assert response["ETag"] == client.get("/api/docs/")["ETag"]


def test_a_paginated_page_304_from_tokens_keeps_the_page_and_its_envelope(client, fifty):
    Document.objects.bulk_create(Document(title=f"more {i}") for i in range(10))
    etag = client.get("/api/paged/docs/?page=2")["ETag"]

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/paged/docs/?page=2", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert len(queries.captured_queries) == 1  # the page's tokens with their count

    Document.objects.order_by("pk")[55].save()  # on page 2
    with CaptureQueriesContext(connection) as queries:
        changed = client.get("/api/paged/docs/?page=2", headers={"If-None-Match": etag})
    # The tokens with their count, then the page as DRF loads it (its count, its rows).
    assert len(queries.captured_queries) == 3

    assert changed.status_code == 200
    assert len(changed.json()["results"]) == 10
    assert changed["ETag"] != etag


@pytest.mark.parametrize(
    "path", ["/api/offset/docs/?limit=5", "/api/offset/docs/?limit=5&offset=5"]
)
def test_a_limit_offset_page_304_reads_its_tokens_and_count_in_one_statement(client, path):
    Document.objects.bulk_create(Document(title=f"doc {i}") for i in range(12))
    etag = client.get(path)["ETag"]

    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert len(queries.captured_queries) == 1  # the page's tokens with their count

    Document.objects.order_by("pk")[5].save()  # on the second page; not on the first
    with CaptureQueriesContext(connection) as queries:
        again = client.get(path, headers={"If-None-Match": etag})
    on_this_page = "offset=5" in path
    assert again.status_code == (200 if on_this_page else 304)
    # Changed: the tokens with their count, then the page as DRF loads it (count, rows).
    assert len(queries.captured_queries) == (3 if on_this_page else 1)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/paged/docs/?page=9223372036854775807", 404),
        ("/api/paged/docs/?page=100000000000000000000000000", 404),
        ("/api/paged/docs/?page=184467440737095516", 404),  # x 50 per page: within 2**63
        ("/api/offset/docs/?limit=5&offset=9223372036854775800", 200),  # within 2**63
        ("/api/offset/docs/?limit=5&offset=9223372036854775805", 200),  # beyond
        ("/api/offset/docs/?limit=5&offset=100000000000000000000000000", 200),
        ("/api/paged/docs/?page=" + "1" * 5000, 404),  # more digits than int() converts
        ("/api/offset/docs/?limit=5&offset=" + "1" * 5000, 200),
    ],
)
def test_a_huge_page_or_offset_is_answered_as_drf_answers_it(client, path, status):
    """A client may ask for any page or offset: with or without If-None-Match it gets DRF's
    own answer (404 for a page that does not exist, an empty page for an offset beyond the
    end), never a 500 from a LIMIT/OFFSET the database cannot hold."""
    Document.objects.bulk_create(Document(title=f"doc {i}") for i in range(3))
    plain = client.get(path)
    assert plain.status_code == status
    conditional = client.get(path, headers={"If-None-Match": plain.get("ETag", 'W/"other"')})
    assert conditional.status_code == (304 if status == 200 else status)


@pytest.mark.parametrize(
    "path",
    [
        "/api/optionally-paged/docs/",
        "/api/optionally-paged/docs/?page_size=5",
        "/api/optionally-paged/docs/?page_size=5&page=2",
        "/api/optionally-paged/docs/?page_size=5&page=last",
        "/api/offset/docs/",
        "/api/offset/docs/?limit=5",
        "/api/offset/docs/?limit=5&offset=5",
        "/api/offset/docs/?limit=5&offset=20",
        "/api/paged/docs/?page=1",
        "/api/unpaginated-list/docs/",
        "/api/unpaginated-list/docs/?page_size=5",
    ],
)
def test_rule_28_list_etags_follow_the_envelope_of_every_paginator(client, path):
    """The collection ETag of a page — paginated on request or not, by page number or by
    offset — answers 304 to itself, and changes when the page's envelope changes (an item
    added at the end changes the count and the links, not the page's items)."""
    Document.objects.bulk_create(Document(title=f"doc {i}") for i in range(12))
    first = client.get(path)
    assert first.status_code == 200
    etag = first["ETag"]

    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    Document.objects.create(title="one more, at the end")
    again = client.get(path, headers={"If-None-Match": etag})
    body = again.json()
    envelope_changed = isinstance(body, dict) or len(body) != len(first.json())
    assert (again.status_code == 200) is envelope_changed
    if envelope_changed:
        assert again["ETag"] != etag
