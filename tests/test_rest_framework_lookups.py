"""DRF views whose URL is not the plain ``<pk>`` of the object: lookups along a path
(``lookup_field = "slug__iexact"``, ``"owner__username"``), extra actions on the object, and a
collection nested under a parent's ``<pk>``. Never a 500 once a create was saved, never a
create the handler did not ask for (rule 12), and rule 27 for every collection."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import include, path
from rest_framework import generics, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from django_preconditions.rest_framework import PreconditionMixin
from tests.testapp.models import Document, SluggedDocument

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_rest_framework_lookups")]


class _Slugs(serializers.ModelSerializer[SluggedDocument]):
    class Meta:
        model = SluggedDocument
        fields = ("id", "slug", "counter")


class _Documents(serializers.ModelSerializer[Document]):
    class Meta:
        model = Document
        fields = ("id", "title", "body", "owner")


class _CaseInsensitiveSlugs(PreconditionMixin, viewsets.ModelViewSet[SluggedDocument]):
    queryset = SluggedDocument.objects.all()
    serializer_class = _Slugs
    lookup_field = "slug__iexact"
    lookup_url_kwarg = "slug"


class _CreatingSlugs(_CaseInsensitiveSlugs):
    precondition_allow_create = True


class _ByOwnerName(PreconditionMixin, viewsets.ModelViewSet[Document]):
    queryset = Document.objects.select_related("owner")
    serializer_class = _Documents
    lookup_field = "owner__username"
    lookup_url_kwarg = "username"


class _WithBodyAction(PreconditionMixin, viewsets.ModelViewSet[Document]):
    queryset = Document.objects.all()
    serializer_class = _Documents
    precondition_allow_create = True

    @action(detail=True, methods=["put"])
    def body(self, request: Request, pk: str | None = None) -> Response:
        """Replace the body alone: a part of the object, not the object."""
        document = self.get_object()
        document.body = request.data.get("body", "")
        document.save()
        return Response({"body": document.body})


class _OwnersDocuments(PreconditionMixin, generics.ListCreateAPIView[Document]):
    """``/users/<pk>/documents/``: one user's documents (a hand-written nested route)."""

    serializer_class = _Documents

    def get_queryset(self) -> Any:
        return Document.objects.filter(owner_id=self.kwargs["pk"]).order_by("id")

    def perform_create(self, serializer: Any) -> None:
        serializer.save(owner_id=self.kwargs["pk"])


router = DefaultRouter()
router.register("slugs", _CaseInsensitiveSlugs, basename="slugs")
router.register("creating-slugs", _CreatingSlugs, basename="creating-slugs")
router.register("by-owner", _ByOwnerName, basename="by-owner")
router.register("docs", _WithBodyAction, basename="docs")

urlpatterns = [
    path("users/<int:pk>/documents/", _OwnersDocuments.as_view()),
    path("", include(router.urls)),
]


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def test_a_create_with_a_lookup_suffix_is_201_with_its_location(client: APIClient) -> None:
    """Rule 40: the Location is built from the slug the lookup reads; it was a 500 (with the
    row saved) when the mixin read the attribute ``slug__iexact``."""
    created = client.post("/slugs/", {"slug": "hello"}, format="json")
    assert created.status_code == 201, created.content
    stored = SluggedDocument.objects.get(slug="hello")
    assert created["ETag"] == stored.etag
    assert created["Location"] == "http://testserver/slugs/hello/"
    again = client.get("/slugs/HELLO/")
    assert (again.status_code, again["ETag"]) == (200, stored.etag)


def test_a_create_with_a_lookup_across_a_relation_is_201(client: APIClient) -> None:
    alice = User.objects.create_user("alice")
    created = client.post("/by-owner/", {"title": "t", "owner": alice.pk}, format="json")
    assert created.status_code == 201, created.content
    assert created["Location"] == "http://testserver/by-owner/alice/"
    assert created["ETag"] == Document.objects.get(owner=alice).etag


def test_a_create_whose_lookup_cannot_be_read_has_no_location_and_is_201(
    client: APIClient,
) -> None:
    """No owner, so no owner's name to build the URL with: the 201 goes without
    ``Location`` (the model has no ``get_absolute_url()``), never a 500 after the save."""
    created = client.post("/by-owner/", {"title": "t"}, format="json")
    assert created.status_code == 201, created.content
    assert not created.has_header("Location")
    assert created["ETag"] == Document.objects.get().etag


@pytest.mark.parametrize("headers", [{"If-None-Match": "*"}, {}])
def test_a_put_to_an_absent_object_by_a_lookup_path_creates_nothing(
    client: APIClient, headers: dict[str, str]
) -> None:
    """A lookup path names no one value to create the object with: 404 (it was a 500)."""
    response = client.put("/creating-slugs/hello/", {"counter": 1}, format="json", headers=headers)
    assert response.status_code == 404, response.content
    assert not SluggedDocument.objects.exists()


@pytest.mark.parametrize("headers", [{"If-None-Match": "*"}, {}])
def test_a_put_extra_action_on_an_absent_object_is_404_and_creates_nothing(
    client: APIClient, headers: dict[str, str]
) -> None:
    """Rule 12: ``/docs/77/body/`` names a part of document 77; the viewset creates
    documents by PUT, but not through this action (it created document 77 from the body
    with 201, or asked for a precondition with 428)."""
    response = client.put(
        "/docs/77/body/", {"body": "x", "title": "t"}, format="json", headers=headers
    )
    assert response.status_code == 404, response.content
    assert not Document.objects.exists()


def test_a_put_extra_action_on_an_existing_object_is_protected(client: APIClient) -> None:
    document = Document.objects.create(title="t")
    assert client.put(f"/docs/{document.pk}/body/", {"body": "x"}, format="json").status_code == (
        428
    )
    written = client.put(
        f"/docs/{document.pk}/body/",
        {"body": "x"},
        format="json",
        headers={"If-Match": document.etag},
    )
    assert written.status_code == 200, written.content
    assert Document.objects.get(pk=document.pk).body == "x"
    created = client.put("/docs/78/", {"title": "t"}, format="json", headers={"If-None-Match": "*"})
    assert created.status_code == 201, created.content  # the update action still creates


def test_rule_27_a_post_to_a_nested_collection_with_if_none_match_star_is_412(
    client: APIClient,
) -> None:
    """The URL's ``<pk>`` is the parent's, not the lookup of a document: the target is the
    collection, which exists (rule 27)."""
    alice = User.objects.create_user("alice")
    refused = client.post(
        f"/users/{alice.pk}/documents/",
        {"title": "t"},
        format="json",
        headers={"If-None-Match": "*"},
    )
    assert refused.status_code == 412, refused.content
    assert not Document.objects.exists()
    created = client.post(f"/users/{alice.pk}/documents/", {"title": "t"}, format="json")
    assert created.status_code == 201, created.content
    assert created["ETag"] == Document.objects.get().etag
