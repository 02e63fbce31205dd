"""Rule 40: a 201 carries the ETag of the resource it created, never that of the row the URL
names. A POST to a protected detail URL that creates another resource (a copy) — a DRF
``@action(detail=True)``, a decorated function view, a class-based view — answered with the
source row's ETag: a client sending it as ``If-Match`` to the copy would get 412 forever, and
a cache would label the copy with the source's version."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import View
from django.views.decorators.http import require_http_methods
from django.views.generic.detail import SingleObjectMixin
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIClient

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from django_preconditions.views import PreconditionRequiredMixin
from tests.testapp.models import Document
from tests.testapp.serializers import DocumentSerializer
from tests.testapp.views import representation

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_other_resource_validators")]


def _copy(source: Document) -> Document:
    return Document.objects.create(title=f"copy of {source.title}")


class CloningViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    @action(detail=True, methods=["post"])
    def clone(self, request: Request, pk: Any = None) -> Response:
        copy = _copy(self.get_object())
        return Response(DocumentSerializer(copy).data, status=201)

    @action(detail=True, methods=["post"])
    def summary(self, request: Request, pk: Any = None) -> Response:
        return Response({"words": len(self.get_object().title.split())})


@require_http_methods(["POST"])
@require_preconditions(Document)
def clone_view(request: HttpRequest, pk: int) -> HttpResponse:
    copy = _copy(request.preconditions.instance)  # type: ignore[attr-defined]
    return JsonResponse(representation(copy), status=201)


class CloneView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    model = Document

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return JsonResponse(representation(_copy(self.get_object())), status=201)


router = SimpleRouter()
router.register("cloning", CloningViewSet, basename="cloning")
urlpatterns = [
    path("clone/<int:pk>/", clone_view),
    path("cbv-clone/<int:pk>/", CloneView.as_view()),
    path("", include(router.urls)),
]


@pytest.mark.parametrize(
    "route", ["/cloning/{pk}/clone/", "/clone/{pk}/", "/cbv-clone/{pk}/"], ids=["drf", "fn", "cbv"]
)
def test_rule_40_a_201_for_another_resource_never_carries_the_rows_etag(
    document: Document, route: str
) -> None:
    response = APIClient().post(
        route.format(pk=document.pk), {}, format="json", headers={"If-Match": document.etag}
    )

    assert response.status_code == 201, response.content
    copy = Document.objects.exclude(pk=document.pk).get()
    assert response.get("ETag") in (None, copy.etag)
    assert document.etag not in response.get("ETag", "")
    assert "Last-Modified" not in response or response.get("ETag") == copy.etag


def test_a_post_that_does_not_write_the_row_carries_none_of_its_validators(
    document: Document,
) -> None:
    response = APIClient().post(
        f"/cloning/{document.pk}/summary/", {}, format="json", headers={"If-Match": document.etag}
    )

    assert response.status_code == 200
    assert "ETag" not in response
    assert "Last-Modified" not in response


def test_an_unchanged_put_still_carries_the_rows_validators(document: Document) -> None:
    # Rule 41: the representation of the (unchanged) row, with its validators.
    response = APIClient().patch(
        f"/cloning/{document.pk}/", {}, format="json", headers={"If-Match": document.etag}
    )

    assert response.status_code == 200
    assert response["ETag"] == Document.objects.get(pk=document.pk).etag
