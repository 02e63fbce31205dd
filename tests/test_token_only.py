"""A model versioned by its token alone (``last_modified = None``): every write path still
gives it a new version, no ``Last-Modified`` is served, and ``If-Unmodified-Since`` cannot
satisfy a requirement — there is no date to compare (rule 25) — on all four adapters."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path
from django.utils.http import http_date
from django.views import View
from django.views.generic.detail import SingleObjectMixin
from rest_framework import routers, serializers, viewsets

from django_preconditions.decorators import require_preconditions
from django_preconditions.exceptions import VersionConflict
from django_preconditions.models import keeps_modified, version_fields
from django_preconditions.rest_framework import PreconditionMixin
from django_preconditions.transactions import current_version
from django_preconditions.views import PreconditionRequiredMixin
from tests.support.middleware import settings_rule
from tests.testapp.models import Document, TokenOnlyChapter, TokenOnlyDocument

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_token_only")]


def _edit(request: HttpRequest, document: TokenOnlyDocument) -> HttpResponse:
    """PUT: a rival's write first when asked (``?rival=1``: the compare-and-swap loses),
    then the title from the body."""
    if request.method == "PUT":
        if request.GET.get("rival"):
            TokenOnlyDocument.objects.filter(pk=document.pk).update(title="rival")
        document.title = "mine"
        document.save()
    return JsonResponse({"id": document.pk, "title": document.title})


@require_preconditions(TokenOnlyDocument)
def decorated(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, request.preconditions.instance)  # type: ignore[attr-defined]


class ClassBased(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    model = TokenOnlyDocument

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _edit(request, self.get_object())

    def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _edit(request, self.get_object())


def plain(request: HttpRequest, pk: int) -> HttpResponse:
    """Protected by the middleware's settings rule only."""
    return _edit(request, TokenOnlyDocument.objects.get(pk=pk))


class TokenOnlySerializer(serializers.ModelSerializer[TokenOnlyDocument]):
    class Meta:
        model = TokenOnlyDocument
        fields = ["id", "title"]


class TokenOnlyViewSet(PreconditionMixin, viewsets.ModelViewSet[TokenOnlyDocument]):
    queryset = TokenOnlyDocument.objects.all()
    serializer_class = TokenOnlySerializer

    def perform_update(self, serializer: Any) -> None:
        if self.request.query_params.get("rival"):
            TokenOnlyDocument.objects.filter(pk=serializer.instance.pk).update(title="rival")
        serializer.save(title="mine")


_router = routers.SimpleRouter()
_router.register("api/token-only", TokenOnlyViewSet, basename="token-only")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include(_router.urls)),
    path("decorated/<int:pk>/", decorated),
    path("cbv/<int:pk>/", ClassBased.as_view()),
    path("plain/<int:pk>/", plain, name="token-only-plain"),
]

ADAPTERS = ["/decorated/{}/", "/cbv/{}/", "/api/token-only/{}/", "/plain/{}/"]
RULE = {"model": "testapp.TokenOnlyDocument", "lookup_url_kwarg": "pk"}


@pytest.fixture
def send(request: pytest.FixtureRequest) -> Any:
    """``send(method, url, **headers)`` through the adapter of the test's ``url``, with the
    middleware and its settings rule installed for the plain view."""

    def call(method: str, url: str, **headers: str) -> Any:
        client = Client()
        body = {"title": "mine"} if method == "PUT" else None
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        if url.startswith("/plain/"):
            with settings_rule("token-only-plain", **RULE):
                return getattr(client, method.lower())(url, **kwargs)
        return getattr(client, method.lower())(url, **kwargs)

    return call


# -- the model --------------------------------------------------------------------------------


def test_the_model_stores_no_modification_time() -> None:
    assert not keeps_modified(TokenOnlyDocument)
    assert not keeps_modified(TokenOnlyChapter)
    assert keeps_modified(Document)
    assert version_fields(TokenOnlyDocument) == ("version_token",)
    field_names = {field.name for field in TokenOnlyDocument._meta.get_fields()}
    assert "last_modified" not in field_names
    document = TokenOnlyDocument.objects.create(title="a")
    assert document.last_modified is None
    assert document.last_modified_http is None


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda doc: doc.save(), id="save"),
        pytest.param(lambda doc: doc.save(update_fields=["title"]), id="save-update-fields"),
        pytest.param(
            lambda doc: TokenOnlyDocument.objects.filter(pk=doc.pk).update(title="x"), id="update"
        ),
        pytest.param(
            lambda doc: TokenOnlyDocument.objects.bulk_update([doc], ["title"]), id="bulk-update"
        ),
        pytest.param(
            lambda doc: TokenOnlyDocument.objects.filter(pk=doc.pk).bump_versions(), id="bump"
        ),
    ],
)
def test_rule_46_every_write_path_gives_a_new_version(write: Any) -> None:
    document = TokenOnlyDocument.objects.create(title="a")
    before = document.version_token
    document.title = "b"
    write(document)
    assert TokenOnlyDocument.objects.get(pk=document.pk).version_token != before


def test_bulk_create_with_update_conflicts_gives_the_updated_rows_a_new_version() -> None:
    from django.db import connection

    if not connection.features.supports_update_conflicts_with_target:
        pytest.skip("the database cannot name the conflict target")
    document = TokenOnlyDocument.objects.create(title="a")
    before = document.version_token
    TokenOnlyDocument.objects.bulk_create(
        [TokenOnlyDocument(pk=document.pk, title="b")],
        update_conflicts=True,
        update_fields=["title"],
        unique_fields=["id"],
    )
    stored = TokenOnlyDocument.objects.get(pk=document.pk)
    assert (stored.title, stored.version_token != before) == ("b", True)


def test_rules_44_53_the_compare_and_swap_holds_through_the_child_class() -> None:
    chapter = TokenOnlyChapter.objects.create(title="a")
    stale = chapter.version_token
    TokenOnlyDocument.objects.filter(pk=chapter.pk).update(title="rival")
    chapter.title = "mine"
    with pytest.raises(VersionConflict):
        chapter.save(expected_version=stale)
    stored = TokenOnlyChapter.objects.get(pk=chapter.pk)
    assert stored.title == "rival"
    assert current_version(TokenOnlyDocument, chapter.pk) == current_version(
        TokenOnlyChapter, chapter.pk
    )
    current = current_version(TokenOnlyChapter, chapter.pk)
    assert current is not None
    assert (current.token, current.last_modified) == (stored.version_token, None)


# -- over HTTP, every adapter -----------------------------------------------------------------


@pytest.mark.parametrize("url", ADAPTERS)
def test_rule_39_a_get_carries_the_etag_and_no_last_modified(send: Any, url: str) -> None:
    document = TokenOnlyDocument.objects.create(title="a")
    response = send("GET", url.format(document.pk))
    assert response.status_code == 200, response.content
    assert response["ETag"] == document.etag
    assert not response.has_header("Last-Modified")
    again = send("GET", url.format(document.pk), **{"If-None-Match": document.etag})
    assert again.status_code == 304
    assert not again.has_header("Last-Modified")
    dated = send("GET", url.format(document.pk), **{"If-Modified-Since": http_date()})
    assert dated.status_code == 200  # no date to compare: If-Modified-Since is ignored


@pytest.mark.parametrize("url", ADAPTERS)
def test_rule_41_a_write_answers_the_new_etag_and_no_last_modified(send: Any, url: str) -> None:
    document = TokenOnlyDocument.objects.create(title="a")
    response = send("PUT", url.format(document.pk), **{"If-Match": document.etag})
    assert response.status_code == 200, response.content
    stored = TokenOnlyDocument.objects.get(pk=document.pk)
    assert (stored.title, response["ETag"]) == ("mine", stored.etag)
    assert stored.etag != document.etag
    assert not response.has_header("Last-Modified")


@pytest.mark.parametrize("url", ADAPTERS)
def test_rule_25_if_unmodified_since_alone_is_428_naming_if_match(send: Any, url: str) -> None:
    document = TokenOnlyDocument.objects.create(title="a")
    response = send(
        "PUT", url.format(document.pk), **{"If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
    )
    assert response.status_code == 428, response.content
    # The guidance names the header that works here, not the date (rule 25).
    assert response.json()["required_headers"] == ["If-Match"], response.json()
    assert TokenOnlyDocument.objects.get(pk=document.pk).title == "a"


def _send_under_date_only_policy(method: str, url: str, **headers: str) -> Any:
    """``method url`` under a policy that accepts ``If-Unmodified-Since`` only: the settings
    block for three adapters, the settings rule for the middleware's plain view."""
    from django.test import override_settings

    client = Client()
    kwargs: dict[str, Any] = {"headers": headers, "content_type": "application/json"}
    if url.startswith("/plain/"):
        rule = settings_rule("token-only-plain", **RULE, required_headers=["If-Unmodified-Since"])
    else:
        rule = override_settings(PRECONDITIONS={"REQUIRED_HEADERS": ["If-Unmodified-Since"]})
    with rule:
        return getattr(client, method.lower())(url, {"title": "mine"}, **kwargs)


@pytest.mark.parametrize("url", ADAPTERS)
def test_rule_25_a_date_only_policy_takes_if_match_where_there_is_no_date(url: str) -> None:
    """A policy that requires ``If-Unmodified-Since`` alone, on a model with no modification
    time: the date can never be compared (rule 25), so ``If-Match`` stands in for it. Without
    that, no request could ever write the row; the 428 names the header that works."""
    document = TokenOnlyDocument.objects.create(title="a")
    target = url.format(document.pk)
    for headers in ({}, {"If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}):
        response = _send_under_date_only_policy("PUT", target, **headers)
        assert response.status_code == 428, (headers, response.content)
        assert response.json()["required_headers"] == ["If-Match"], response.json()
        assert b"Last-Modified" not in response.content
    stale = _send_under_date_only_policy("PUT", target, **{"If-Match": '"stale"'})
    assert stale.status_code == 412, stale.content
    assert TokenOnlyDocument.objects.get(pk=document.pk).title == "a"
    current = _send_under_date_only_policy("PUT", target, **{"If-Match": document.etag})
    assert current.status_code == 200, current.content
    assert TokenOnlyDocument.objects.get(pk=document.pk).title == "mine"


@pytest.mark.parametrize(
    ("accepted", "undated"),
    [
        (("If-Unmodified-Since",), ("If-Match",)),
        (("If-Match", "If-Unmodified-Since"), ("If-Match",)),
        (("If-Unmodified-Since", "If-Match"), ("If-Match",)),
        (("If-Match",), ("If-Match",)),
    ],
)
def test_rule_25_the_core_takes_if_match_for_the_date_of_an_undated_resource(
    accepted: tuple[str, ...], undated: tuple[str, ...]
) -> None:
    """The pure core: the same request against a dated and an undated resource."""
    from django_preconditions.conditions import (
        Outcome,
        Requirement,
        ResourceState,
        evaluate,
        undated_headers,
    )
    from django_preconditions.headers import EntityTag

    assert undated_headers(accepted) == undated
    requirement = Requirement(methods=frozenset({"PUT"}), accepted_headers=frozenset(accepted))
    tag = EntityTag("v1")
    undated_state = ResourceState(exists=True, etag=tag)
    dated_state = ResourceState(exists=True, etag=tag, last_modified=1_000_000)
    current = {"If-Match": '"v1"'}
    assert evaluate("PUT", current, undated_state, requirement).outcome is Outcome.PROCEED
    expected = Outcome.PROCEED if "If-Match" in accepted else Outcome.PRECONDITION_REQUIRED
    assert evaluate("PUT", current, dated_state, requirement).outcome is expected
    stale = evaluate("PUT", {"If-Match": '"v0"'}, undated_state, requirement)
    assert stale.outcome is Outcome.PRECONDITION_FAILED
    missing = evaluate("PUT", {}, undated_state, requirement)
    assert missing.outcome is Outcome.PRECONDITION_REQUIRED
    assert missing.requirement is not None
    assert missing.requirement.accepted_headers == frozenset(undated)


@pytest.mark.parametrize("url", ADAPTERS)
def test_rule_36_a_stale_if_match_is_412_with_the_current_etag_only(send: Any, url: str) -> None:
    document = TokenOnlyDocument.objects.create(title="a")
    response = send("PUT", url.format(document.pk), **{"If-Match": '"stale"'})
    assert response.status_code == 412, response.content
    assert response["ETag"] == document.etag
    assert not response.has_header("Last-Modified")
    assert TokenOnlyDocument.objects.get(pk=document.pk).title == "a"


@pytest.mark.parametrize("url", ADAPTERS)
def test_rule_44_a_lost_race_is_412_with_the_rivals_version(send: Any, url: str) -> None:
    """The view's rival writes between the check and the save: the compare-and-swap finds
    another token; the 412 names the rival's version, read with the token alone."""
    document = TokenOnlyDocument.objects.create(title="a")
    response = send("PUT", url.format(document.pk) + "?rival=1", **{"If-Match": document.etag})
    stored = TokenOnlyDocument.objects.get(pk=document.pk)
    assert stored.title == "rival"
    assert response.status_code == 412, response.content
    assert response["ETag"] == stored.etag
    assert not response.has_header("Last-Modified")


# -- the admin --------------------------------------------------------------------------------


def test_rule_44_the_admin_saves_a_current_form_and_refuses_a_stale_one(
    admin_client: Client,
) -> None:
    from tests.support.admin_pages import open_form, save

    document = TokenOnlyDocument.objects.create(title="base")
    stale = open_form(admin_client, document)
    current = open_form(admin_client, document)
    assert save(admin_client, document, current, title="first").status_code == 302
    refused = save(admin_client, document, stale, title="second")
    assert refused.status_code == 200  # the form again, with the conflict
    assert refused.context["adminform"].form.preconditions_conflict is not None
    assert TokenOnlyDocument.objects.get(pk=document.pk).title == "first"


# -- the OpenAPI schema (rule 49) ---------------------------------------------------------------


def test_rule_49_the_schema_promises_no_last_modified_and_offers_no_if_unmodified_since() -> None:
    """drf-spectacular: the viewset's 200s carry ``ETag`` but no ``Last-Modified``, and its
    writes do not offer If-Unmodified-Since, which has no date to compare (rule 25)."""
    import json

    from django.test import override_settings
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    with override_settings(
        REST_FRAMEWORK={"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
    ):
        generator = SchemaGenerator(patterns=_router.urls)
        schema = json.loads(
            OpenApiJsonRenderer().render(generator.get_schema(request=None, public=True))
        )
    detail = next(path for key, path in schema["paths"].items() if "{id}" in key)
    for method in ("get", "put"):
        headers = detail[method]["responses"]["200"].get("headers", {})
        assert "ETag" in headers
        assert "Last-Modified" not in headers, (method, headers)
    parameters = {parameter["name"] for parameter in detail["put"]["parameters"]}
    assert "If-Match" in parameters
    assert "If-Unmodified-Since" not in parameters
    assert "If-Modified-Since" not in {p["name"] for p in detail["get"]["parameters"]}
    assert detail["put"]["x-preconditions"]["one-of"] == ["If-Match"]
