"""DRF list and create paths beyond the plain ModelViewSet: cursor pagination (its page is a
plain list, without a ``Paginator``), a list served from a one-shot iterator, a response with
two serialized lists, and create-by-PUT with a slug lookup whose serializer requires the
slug (rules 26, 28, 31, 39)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import include, path
from rest_framework import serializers, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from django_preconditions.rest_framework import PreconditionMixin
from tests.testapp.models import Document, SluggedDocument

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_rest_framework_edges")]


class DocumentFields(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Document
        fields = ("id", "title", "counter")


class SluggedFields(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = SluggedDocument
        fields = "__all__"


class Cursor(CursorPagination):
    page_size = 2
    ordering = "id"


class CursorList(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    queryset = Document.objects.all()
    serializer_class = DocumentFields
    pagination_class = Cursor


class GeneratorList(PreconditionMixin, viewsets.ReadOnlyModelViewSet):  # type: ignore[misc]
    queryset = Document.objects.order_by("id")
    serializer_class = DocumentFields

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rows = self.filter_queryset(self.get_queryset())
        visible = (row for row in rows if row.counter >= 0)  # filtered in Python
        return Response(self.get_serializer(visible, many=True).data)


class TwoLists(PreconditionMixin, viewsets.ReadOnlyModelViewSet):  # type: ignore[misc]
    queryset = Document.objects.order_by("id")
    serializer_class = DocumentFields

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        pinned = self.get_serializer(self.get_queryset().filter(counter__gt=100), many=True)
        results = self.get_serializer(self.get_queryset(), many=True)
        return Response({"pinned": pinned.data, "results": results.data})


class SlugCreating(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    queryset = SluggedDocument.objects.all()
    serializer_class = SluggedFields
    lookup_field = "slug"
    precondition_allow_create = True


router = DefaultRouter()
router.register("cursor", CursorList, basename="cursor")
router.register("generator", GeneratorList, basename="generator")
router.register("two", TwoLists, basename="two")
router.register("slugged", SlugCreating, basename="slugged")
urlpatterns = [path("", include(router.urls))]


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def test_rule_39_a_cursor_paginated_list_gets_its_etag_and_304(client: APIClient) -> None:
    first, second, _ = (Document.objects.create(title=f"t{n}") for n in range(3))
    response = client.get("/cursor/")
    assert response.status_code == 200
    assert [item["id"] for item in response.data["results"]] == [first.pk, second.pk]
    assert client.head("/cursor/")["ETag"] == response["ETag"]
    again = client.get("/cursor/", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304

    Document.objects.filter(pk=second.pk).update(title="changed")  # an item of the page
    changed = client.get("/cursor/", headers={"If-None-Match": response["ETag"]})
    assert changed.status_code == 200
    assert changed["ETag"] != response["ETag"]

    following = client.get(response.data["next"])  # the second page, by its cursor
    assert following.status_code == 200
    assert (
        client.get(response.data["next"], headers={"If-None-Match": following["ETag"]}).status_code
        == 304
    )


def test_a_list_served_from_a_generator_keeps_its_items(client: APIClient) -> None:
    Document.objects.create(title="one")
    Document.objects.create(title="two")
    response = client.get("/generator/")

    assert response.status_code == 200
    assert [item["title"] for item in response.data] == ["one", "two"]
    assert client.get("/generator/", headers={"If-None-Match": response["ETag"]}).status_code == 304


def test_rule_28_a_response_with_two_lists_gets_no_etag_that_one_of_them_would_keep(
    client: APIClient,
) -> None:
    document = Document.objects.create(title="draft")
    first = client.get("/two/")
    assert first.status_code == 200
    assert "ETag" not in first  # the first list's tag would not change with the second

    Document.objects.filter(pk=document.pk).update(title="changed")
    for tag in ('"anything"', 'W/"anything"'):
        again = client.get("/two/", headers={"If-None-Match": tag})
        assert again.status_code == 200, tag
        assert again.data["results"][0]["title"] == "changed"


def test_rules_26_31_create_by_put_takes_the_slug_from_the_url(client: APIClient) -> None:
    SluggedDocument.objects.create(slug="taken", counter=7)
    response = client.put(
        "/slugged/new-one/",
        {"counter": 3, "slug": "taken"},  # the body's slug is not the key
        format="json",
        headers={"If-None-Match": "*"},
    )

    assert response.status_code == 201, response.content
    created = SluggedDocument.objects.get(slug="new-one")
    assert created.counter == 3
    assert response["ETag"] == created.etag
    assert SluggedDocument.objects.get(slug="taken").counter == 7


def test_create_by_put_with_a_form_body_takes_the_slug_from_the_url(client: APIClient) -> None:
    response = client.put(
        "/slugged/from-form/", {"counter": "4"}, format="multipart", headers={"If-None-Match": "*"}
    )

    assert response.status_code == 201, response.content
    assert SluggedDocument.objects.get(slug="from-form").counter == 4
