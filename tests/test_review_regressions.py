"""Conditional GETs around the day's mechanisms (rules 28, 39): the 304 of a decorated DRF
handler serializes nothing, a counting GET behind a caching decorator never answers 304 with
a gone version, a GET whose save was rolled back serves the stored version."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils.decorators import method_decorator
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from rest_framework import generics, serializers, viewsets
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from tests.testapp.models import Document
from tests.testapp.serializers import DocumentSerializer

pytestmark = [pytest.mark.urls(__name__)]


# --- views -----------------------------------------------------------------------------------

#: How many times a representation was serialized (rule 28: a 304 serializes nothing).
SERIALIZED: list[int] = []


class CountedFields(serializers.ModelSerializer):  # type: ignore[type-arg]
    class Meta:
        model = Document
        fields = ("id", "title", "counter", "version_token")

    def to_representation(self, instance: Any) -> Any:
        SERIALIZED.append(instance.pk)
        return super().to_representation(instance)


@method_decorator(cache_control(private=True, max_age=30), name="get")
class DecoratedRetrieve(PreconditionMixin, generics.RetrieveUpdateAPIView):  # type: ignore[misc]
    """A generic view whose GET handler carries DRF's caching-guide decorator."""

    queryset = Document.objects.all()
    serializer_class = CountedFields


@method_decorator(csrf_exempt, name="retrieve")
class CsrfExemptViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    """A handler decorated with something that adds nothing to the response."""

    queryset = Document.objects.all()
    serializer_class = CountedFields


@method_decorator(cache_control(private=True, max_age=30), name="retrieve")
class CountingDecoratedViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    """A retrieve that counts its reads (the GET saves the row), with a caching decorator."""

    queryset = Document.objects.all()
    serializer_class = CountedFields

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        document = self.get_object()
        document.counter += 1
        document.save()
        return super().retrieve(request, *args, **kwargs)


def _count_best_effort(document: Document) -> None:
    """A best-effort read counter: the save and its audit statement in a savepoint, given up
    (rolled back) when the audit fails; the read is served anyway."""
    try:
        with transaction.atomic():
            document.counter += 1
            document.save()
            raise DatabaseError("the audit table is full")
    except DatabaseError:
        document.counter -= 1


@require_preconditions(Document)
def counting_best_effort(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "GET":
        _count_best_effort(document)
    else:
        document.title = json.loads(request.body)["title"]
        document.save()
    return JsonResponse({"title": document.title, "counter": document.counter})


class CountingBestEffortViewSet(PreconditionMixin, viewsets.ModelViewSet):  # type: ignore[misc]
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        _count_best_effort(self.get_object())
        return super().retrieve(request, *args, **kwargs)


router = DefaultRouter()
router.register("best-effort", CountingBestEffortViewSet, basename="hunt-best-effort")
router.register("csrf-exempt", CsrfExemptViewSet, basename="hunt-csrf-exempt")
router.register("counting-decorated", CountingDecoratedViewSet, basename="hunt-counting")

urlpatterns = [
    path("", include(router.urls)),
    path("decorated-get/<int:pk>/", DecoratedRetrieve.as_view()),
    path("best-effort-function/<int:pk>/", counting_best_effort),
]


# --- rule 28: the 304 of decorated DRF handlers --------------------------------------------------


@pytest.mark.django_db
def test_rule_28_a_304_of_a_csrf_exempt_handler_serializes_nothing() -> None:
    """csrf_exempt adds nothing to the response: the 304 is decided from the version token
    "without serializing or rendering the representation"."""
    document = Document.objects.create(title="draft")
    client = APIClient()
    etag = client.get(f"/csrf-exempt/{document.pk}/")["ETag"]
    SERIALIZED.clear()

    response = client.get(f"/csrf-exempt/{document.pk}/", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert SERIALIZED == []


@pytest.mark.django_db
def test_rule_39_a_decorated_get_that_saved_its_row_is_not_a_304_naming_the_old_version() -> None:
    """A counting GET whose handler carries a caching decorator: the deferred 304 lets the
    handler run — it saves the row — and then answers 304 with the ETag loaded before the
    save, a version that no longer exists: the client's next If-Match with it gets 412."""
    document = Document.objects.create(title="draft")
    client = APIClient()
    etag = client.get(f"/counting-decorated/{document.pk}/")["ETag"]

    response = client.get(f"/counting-decorated/{document.pk}/", headers={"If-None-Match": etag})

    stored = Document.objects.get(pk=document.pk)
    if response.status_code == 304:
        # A 304 must name the stored version (the client's cache is then current).
        assert response["ETag"] == stored.etag
    else:
        assert response.status_code == 200
        assert response["ETag"] == stored.etag


@pytest.mark.django_db
@pytest.mark.parametrize(
    "prefix", ["/best-effort-function/", "/best-effort/"], ids=["decorator", "drf"]
)
def test_rule_39_a_get_whose_save_was_rolled_back_serves_the_stored_etag(prefix: str) -> None:
    """The GET saved its row inside a savepoint that it then rolled back: the row keeps its
    version, which the ETag must name (rule 39). The new "GET that saved" branch of
    enforcement.finish() trusts the instance in memory instead, whose token the rollback
    took back: the ETag names a version that never existed and the client's next If-Match
    gets 412 although nobody else wrote (rule 19)."""
    document = Document.objects.create(title="draft")
    client = APIClient()

    response = client.get(f"{prefix}{document.pk}/")

    assert response.status_code == 200
    stored = Document.objects.get(pk=document.pk)
    assert stored.counter == 0  # the count was rolled back
    assert response["ETag"] == stored.etag
    put = client.put(
        f"{prefix}{document.pk}/",
        {"title": "edited"},
        format="json",
        headers={"If-Match": response["ETag"]},
    )
    assert put.status_code == 200, put.content


# --- rule 47: a refused write in autocommit -----------------------------------------------------
