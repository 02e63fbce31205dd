"""Conditional GETs whose representation is not simply the loaded row or page (rules 28, 39,
41): a detail action that serializes other rows, a list response with an object beside the
list, DRF 304s of handlers whose decorators add Cache-Control and Vary, and a GET that saves
the row it serves (a view counter)."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import cache_control
from django.views.decorators.vary import vary_on_headers
from django.views.generic.detail import SingleObjectMixin
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from django_preconditions.views import PreconditionRequiredMixin
from tests.testapp.models import Document

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_conditional_get_edges")]


class DocumentFields(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Document
        fields = ("id", "title", "counter", "version_token")


class WithActions(PreconditionMixin, viewsets.ReadOnlyModelViewSet):  # type: ignore[misc]
    queryset = Document.objects.order_by("id")
    serializer_class = DocumentFields

    @action(detail=True, methods=["get"])
    def siblings(self, request: Request, pk: str) -> Response:
        """The other documents: a sub-resource list of a detail route."""
        document = self.get_object()
        others = self.get_queryset().exclude(pk=document.pk)
        return Response(self.get_serializer(others, many=True).data)

    @action(detail=False, methods=["get"])
    def featured(self, request: Request) -> Response:
        """A list and, beside it, one object that is not in it."""
        results = self.get_serializer(self.get_queryset().filter(counter__lt=100), many=True)
        top = self.get_queryset().filter(counter__gte=100).first()
        return Response({"results": results.data, "top": self.get_serializer(top).data})


@method_decorator(cache_control(private=True, max_age=30), name="dispatch")
@method_decorator(vary_on_headers("Accept-Language"), name="dispatch")
class DecoratedHandlers(PreconditionMixin, viewsets.ReadOnlyModelViewSet):  # type: ignore[misc]
    """Caching decorators on dispatch (docs/rest_framework.md): they see the 304 too. On a
    handler they would not: the 304 is decided before the handler's body runs (rule 28:
    without serializing), so their headers are on the 200 only."""

    queryset = Document.objects.order_by("id")
    serializer_class = DocumentFields


class CountingViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    """A retrieve that counts its reads: the GET saves the row."""

    queryset = Document.objects.order_by("id")
    serializer_class = DocumentFields

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        document = self.get_object()
        document.counter += 1
        document.save()
        return Response(self.get_serializer(document).data)


def counted(document: Document) -> dict[str, Any]:
    return {"id": document.pk, "counter": document.counter, "version": document.version_token}


@require_preconditions(Document)
def counting_function(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    document.counter += 1
    document.save()
    return JsonResponse(counted(document))


class CountingView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    model = Document

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = self.get_object()
        document.counter += 1
        document.save()
        return JsonResponse(counted(document))


router = DefaultRouter()
router.register("actions", WithActions, basename="actions")
router.register("decorated", DecoratedHandlers, basename="decorated")
router.register("counting", CountingViewSet, basename="counting")
urlpatterns = [
    path("", include(router.urls)),
    path("counting-function/<int:pk>/", counting_function),
    path("counting-view/<int:pk>/", CountingView.as_view()),
]


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def test_rule_28_a_detail_action_listing_other_rows_is_not_304_once_one_of_them_changed(
    client: APIClient,
) -> None:
    parent = Document.objects.create(title="parent")
    sibling = Document.objects.create(title="sibling")
    first = client.get(f"/actions/{parent.pk}/siblings/")
    assert first.status_code == 200
    assert [item["title"] for item in first.json()] == ["sibling"]

    Document.objects.filter(pk=sibling.pk).update(title="renamed")  # bumps its token
    again = client.get(f"/actions/{parent.pk}/siblings/", headers={"If-None-Match": first["ETag"]})

    # The client's copy lists "sibling"; the list now says "renamed".
    assert again.status_code == 200
    assert again["ETag"] != first["ETag"]


def test_rule_28_a_list_response_with_an_object_beside_the_list_is_not_304_when_it_changed(
    client: APIClient,
) -> None:
    Document.objects.create(title="listed")
    top = Document.objects.create(title="top", counter=500)
    first = client.get("/actions/featured/")
    assert first.status_code == 200
    assert first.json()["top"]["title"] == "top"

    Document.objects.filter(pk=top.pk).update(title="new top")  # bumps its token
    again = client.get("/actions/featured/", headers={"If-None-Match": first.get("ETag", '"-"')})

    # Either no list ETag (as for a response with two lists) or one that follows "top".
    assert again.status_code == 200
    assert again.json()["top"]["title"] == "new top"


@pytest.mark.parametrize("route", ["list", "detail"])
def test_rule_28_a_drf_304_carries_the_cache_control_and_vary_of_dispatch_decorators(
    client: APIClient, route: str
) -> None:
    document = Document.objects.create(title="draft")
    target = "/decorated/" if route == "list" else f"/decorated/{document.pk}/"
    full = client.get(target)
    assert full.status_code == 200
    assert "private" in full["Cache-Control"]
    assert "Accept-Language" in full["Vary"]

    not_modified = client.get(target, headers={"If-None-Match": full["ETag"]})

    assert not_modified.status_code == 304
    assert not_modified.get("Cache-Control") == full["Cache-Control"]
    assert not_modified.get("Vary") == full["Vary"]


@pytest.mark.parametrize(
    "prefix",
    ["/counting/", "/counting-function/", "/counting-view/"],
    ids=["drf", "decorator", "cbv"],
)
def test_rule_39_a_get_that_saves_its_row_carries_the_etag_of_what_it_shows(prefix: str) -> None:
    document = Document.objects.create(title="draft")

    response = Client().get(f"{prefix}{document.pk}/")

    assert response.status_code == 200
    stored = Document.objects.get(pk=document.pk)
    assert response.json()["version_token" if prefix == "/counting/" else "version"] == (
        stored.version_token
    )
    assert response["ETag"] == stored.etag  # the body's version, not the one before the save


def test_rule_41_the_etag_of_a_counting_get_lets_the_client_write(client: APIClient) -> None:
    document = Document.objects.create(title="draft")
    etag = client.get(f"/counting/{document.pk}/")["ETag"]

    # Nobody else wrote: the client's copy is the current one.
    response = client.patch(
        f"/counting/{document.pk}/", {"title": "edited"}, format="json", headers={"If-Match": etag}
    )

    assert response.status_code == 200, response.content
