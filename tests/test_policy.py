"""Per-view policy (CONFORMANCE rule 30): global defaults < the view's ``VIEWS`` entry <
arguments given in code; settings are read on every request.

``VIEWS`` entries are matched, most specific first, by the namespaced URL name, the view's
dotted path and the route pattern of real resolved requests. This module is also a URLconf
(``urlpatterns`` below) that mounts the protected view under a namespace.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import override_settings
from django.urls import include, path, resolve

from django_preconditions import defaults
from django_preconditions.conditions import Outcome, ResourceState, evaluate
from django_preconditions.headers import EntityTag
from django_preconditions.policy import Policy, view_keys_for_request
from tests.support import urls as project_urls
from tests.testapp import views
from tests.testapp.models import Document

urlpatterns = [
    path(
        "api/",
        include(
            ([path("docs/<int:pk>/", views.document_detail, name="document-detail")], "api"),
            namespace="api",
        ),
    ),
    *project_urls.urlpatterns,
]

URL_NAME = "document-detail"
DOTTED_PATH = "tests.testapp.views.document_detail"
ROUTE = "docs/<int:pk>/"


def resolved(rf: RequestFactory, url: str, method: str = "put") -> HttpRequest:
    """A request as the URL resolver hands it to the view."""
    request: HttpRequest = getattr(rf, method)(url)
    request.resolver_match = resolve(url)
    return request


def policy_for(request: HttpRequest, **code_overrides: Any) -> Policy:
    return Policy.resolve(view_keys_for_request(request), **code_overrides)


# --- view keys of real requests ---------------------------------------------------------------


def test_view_keys_are_url_name_dotted_path_and_route(rf: RequestFactory) -> None:
    request = resolved(rf, "/docs/1/")
    assert view_keys_for_request(request) == (URL_NAME, DOTTED_PATH, ROUTE)


@override_settings(ROOT_URLCONF=__name__)
def test_view_keys_use_the_namespaced_url_name(rf: RequestFactory) -> None:
    request = resolved(rf, "/api/docs/1/")
    assert view_keys_for_request(request) == (
        "api:document-detail",
        DOTTED_PATH,
        "api/docs/<int:pk>/",
    )


def test_a_request_that_was_not_resolved_has_no_view_keys(rf: RequestFactory) -> None:
    assert view_keys_for_request(rf.put("/docs/1/")) == ()


# --- defaults, VIEWS entry, arguments in code -------------------------------------------------


def test_without_settings_the_policy_is_the_documented_defaults(rf: RequestFactory) -> None:
    policy = policy_for(resolved(rf, "/docs/1/"))
    assert policy.methods == frozenset(defaults.METHODS)
    assert policy.required_headers == defaults.REQUIRED_HEADERS
    assert policy.allow_wildcard is defaults.ALLOW_WILDCARD
    assert policy.weak_if_match is defaults.WEAK_IF_MATCH
    assert policy.error_format == defaults.ERROR_FORMAT
    assert policy.include_current_etag is defaults.INCLUDE_CURRENT_ETAG
    assert policy.documentation_url is defaults.DOCUMENTATION_URL


@override_settings(
    PRECONDITIONS={
        "METHODS": ["PUT"],
        "ERROR_FORMAT": "json",
        "ALLOW_WILDCARD": True,
        "DOCUMENTATION_URL": "https://example.com/errors/",
    }
)
def test_global_settings_replace_the_defaults(rf: RequestFactory) -> None:
    policy = policy_for(resolved(rf, "/docs/1/"))
    assert policy.methods == frozenset({"PUT"})
    assert policy.error_format == "json"
    assert policy.allow_wildcard is True
    assert policy.documentation_url == "https://example.com/errors/"
    assert policy.required_headers == defaults.REQUIRED_HEADERS


@pytest.mark.parametrize("key", [URL_NAME, DOTTED_PATH, ROUTE])
def test_a_views_entry_matched_by_any_view_key_overrides_the_globals(
    rf: RequestFactory, key: str
) -> None:
    block = {
        "METHODS": ["PUT", "DELETE"],
        "ERROR_FORMAT": "json",
        "VIEWS": {key: {"methods": ["DELETE"], "error_format": "drf"}},
    }
    with override_settings(PRECONDITIONS=block):
        policy = policy_for(resolved(rf, "/docs/1/"))
    assert policy.methods == frozenset({"DELETE"})
    assert policy.error_format == "drf"


def test_a_views_entry_keeps_the_globals_it_does_not_name(rf: RequestFactory) -> None:
    block = {"ERROR_FORMAT": "json", "VIEWS": {URL_NAME: {"methods": ["DELETE"]}}}
    with override_settings(PRECONDITIONS=block):
        policy = policy_for(resolved(rf, "/docs/1/"))
    assert policy.error_format == "json"
    assert policy.required_headers == defaults.REQUIRED_HEADERS


def test_url_name_beats_dotted_path_beats_route(rf: RequestFactory) -> None:
    views_block: dict[str, Any] = {
        URL_NAME: {"methods": ["PUT"]},
        DOTTED_PATH: {"methods": ["PATCH"]},
        ROUTE: {"methods": ["DELETE"]},
    }
    request = resolved(rf, "/docs/1/")
    with override_settings(PRECONDITIONS={"VIEWS": views_block}):
        assert policy_for(request).methods == frozenset({"PUT"})
    del views_block[URL_NAME]
    with override_settings(PRECONDITIONS={"VIEWS": views_block}):
        assert policy_for(request).methods == frozenset({"PATCH"})
    del views_block[DOTTED_PATH]
    with override_settings(PRECONDITIONS={"VIEWS": views_block}):
        assert policy_for(request).methods == frozenset({"DELETE"})


@override_settings(ROOT_URLCONF=__name__)
def test_a_namespaced_url_name_matches_only_inside_its_namespace(rf: RequestFactory) -> None:
    block = {"VIEWS": {"api:document-detail": {"methods": ["DELETE"]}}}
    with override_settings(PRECONDITIONS=block):
        namespaced = policy_for(resolved(rf, "/api/docs/1/"))
        plain = policy_for(resolved(rf, "/docs/1/"))
    assert namespaced.methods == frozenset({"DELETE"})
    assert plain.methods == frozenset(defaults.METHODS)


def test_a_views_entry_for_another_view_does_not_apply(rf: RequestFactory) -> None:
    block = {"VIEWS": {"document-plain": {"methods": ["DELETE"]}}}
    with override_settings(PRECONDITIONS=block):
        policy = policy_for(resolved(rf, "/docs/1/"))
    assert policy.methods == frozenset(defaults.METHODS)


def test_arguments_in_code_beat_the_views_entry_and_the_globals(rf: RequestFactory) -> None:
    block = {
        "METHODS": ["PUT"],
        "ERROR_FORMAT": "json",
        "VIEWS": {URL_NAME: {"methods": ["PATCH"], "error_format": "drf"}},
    }
    with override_settings(PRECONDITIONS=block):
        policy = policy_for(resolved(rf, "/docs/1/"), methods=["DELETE"], error_format="problem")
    assert policy.methods == frozenset({"DELETE"})
    assert policy.error_format == "problem"


def test_arguments_left_as_none_in_code_do_not_override(rf: RequestFactory) -> None:
    block = {"VIEWS": {URL_NAME: {"methods": ["PATCH"], "allow_wildcard": True}}}
    with override_settings(PRECONDITIONS=block):
        policy = policy_for(resolved(rf, "/docs/1/"), methods=None, allow_wildcard=None)
    assert policy.methods == frozenset({"PATCH"})
    assert policy.allow_wildcard is True


def test_settings_changes_take_effect_without_restart(rf: RequestFactory) -> None:
    request = resolved(rf, "/docs/1/")
    assert policy_for(request).methods == frozenset(defaults.METHODS)
    with override_settings(PRECONDITIONS={"METHODS": ["PATCH"]}):
        assert policy_for(request).methods == frozenset({"PATCH"})
        with override_settings(PRECONDITIONS={"VIEWS": {URL_NAME: {"methods": ["POST"]}}}):
            assert policy_for(request).methods == frozenset({"POST"})
        assert policy_for(request).methods == frozenset({"PATCH"})
    assert policy_for(request).methods == frozenset(defaults.METHODS)


# --- normalisation ----------------------------------------------------------------------------


def test_header_names_are_normalised_at_every_level(rf: RequestFactory) -> None:
    request = resolved(rf, "/docs/1/")
    with override_settings(PRECONDITIONS={"REQUIRED_HEADERS": ["if-match"]}):
        assert policy_for(request).required_headers == ("If-Match",)
    with override_settings(
        PRECONDITIONS={"VIEWS": {URL_NAME: {"required_headers": ["IF-UNMODIFIED-SINCE"]}}}
    ):
        assert policy_for(request).required_headers == ("If-Unmodified-Since",)
    policy = policy_for(request, required_headers=["if-match", "if-unmodified-since"])
    assert policy.required_headers == ("If-Match", "If-Unmodified-Since")


def test_methods_are_upper_cased_at_every_level(rf: RequestFactory) -> None:
    request = resolved(rf, "/docs/1/")
    with override_settings(PRECONDITIONS={"METHODS": ["put", "Patch"]}):
        assert policy_for(request).methods == frozenset({"PUT", "PATCH"})
    with override_settings(PRECONDITIONS={"VIEWS": {URL_NAME: {"methods": ["delete"]}}}):
        assert policy_for(request).methods == frozenset({"DELETE"})
    assert policy_for(request, methods=["post"]).methods == frozenset({"POST"})


def test_normalised_names_are_enforced(rf: RequestFactory) -> None:
    # Lower-case spellings in settings must protect exactly as the canonical ones do.
    state = ResourceState(exists=True, etag=EntityTag("v2"), last_modified=1751371200)
    block = {"METHODS": ["delete"], "REQUIRED_HEADERS": ["if-match"]}
    with override_settings(PRECONDITIONS=block):
        requirement = policy_for(resolved(rf, "/docs/1/")).requirement
    only_date = {"If-Unmodified-Since": "Tue, 01 Jul 2025 12:00:00 GMT"}
    assert (
        evaluate("DELETE", only_date, state, requirement).outcome is Outcome.PRECONDITION_REQUIRED
    )
    assert evaluate("DELETE", {"If-Match": '"v2"'}, state, requirement).outcome is Outcome.PROCEED
    assert evaluate("PUT", {}, state, requirement).outcome is Outcome.PROCEED


# --- over HTTP --------------------------------------------------------------------------------


def put(client: Client, url: str) -> HttpResponse:
    return client.put(url, data=json.dumps({"title": "mine"}), content_type="application/json")


@pytest.mark.parametrize("key", [URL_NAME, DOTTED_PATH, ROUTE])
def test_http_views_entry_limits_the_protected_methods(
    client: Client, document: Document, key: str
) -> None:
    url = f"/docs/{document.pk}/"
    with override_settings(PRECONDITIONS={"VIEWS": {key: {"methods": ["DELETE"]}}}):
        response = put(client, url)
        assert response.status_code == 200
        assert response.json()["title"] == "mine"
        assert client.delete(url).status_code == 428
    assert Document.objects.filter(pk=document.pk).exists()


def test_http_settings_changes_apply_to_the_next_request(
    client: Client, document: Document
) -> None:
    url = f"/docs/{document.pk}/"
    assert put(client, url).status_code == 428
    with override_settings(PRECONDITIONS={"VIEWS": {URL_NAME: {"methods": ["DELETE"]}}}):
        assert put(client, url).status_code == 200
    assert put(client, url).status_code == 428


@override_settings(ROOT_URLCONF=__name__)
def test_http_namespaced_views_entry(client: Client, document: Document) -> None:
    with override_settings(
        PRECONDITIONS={"VIEWS": {"api:document-detail": {"methods": ["DELETE"]}}}
    ):
        assert put(client, f"/api/docs/{document.pk}/").status_code == 200
        assert put(client, f"/docs/{document.pk}/").status_code == 428


def test_http_arguments_in_code_beat_the_views_entry(client: Client, document: Document) -> None:
    # document_custom_policy says methods=["PUT", "DELETE"], error_format="json" in code.
    url = f"/custom/docs/{document.pk}/"
    block = {
        "ERROR_FORMAT": "problem",
        "VIEWS": {"document-custom": {"methods": ["PATCH"], "error_format": "drf"}},
    }
    with override_settings(PRECONDITIONS=block):
        patched = client.patch(url, data="{}", content_type="application/json")
        refused = put(client, url)
    assert patched.status_code == 200
    assert refused.status_code == 428
    assert refused["Content-Type"] == "application/json; charset=utf-8"
    assert "required_headers" in refused.json()
