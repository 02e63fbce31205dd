"""Querysets that defer the version fields (``only()``, ``defer()``): the version that labels
a row is the one read with its data, in the same statement (rules 39, 44), at no query of its
own; a deferred ``last_modified`` is still judged (rules 23, 25).

A deferred field is read when first accessed, by a query of its own: a version token read
that way, after another request's write, labelled the data read before that write, and the
client's write of that data with it went through (a lost update)."""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.test import APIClient

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from tests.support.middleware import MIDDLEWARE
from tests.testapp.models import Document
from tests.testapp.views import TitleJsonView

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.test_deferred_versions")]

ONLY = Document.objects.only("id", "title").order_by("id")
DEFER = Document.objects.defer("version_token", "last_modified").order_by("id")


class _Fields(serializers.ModelSerializer[Document]):
    class Meta:
        model = Document
        fields = ("id", "title", "counter")


class _PlainOnly(viewsets.ModelViewSet[Document]):
    queryset = ONLY
    serializer_class = _Fields


class _Only(PreconditionMixin, _PlainOnly):
    pass


class _PlainDefer(viewsets.ModelViewSet[Document]):
    queryset = DEFER
    serializer_class = _Fields


class _Defer(PreconditionMixin, _PlainDefer):
    pass


class _PlainOwnQueryset(viewsets.ModelViewSet[Document]):
    serializer_class = _Fields

    def get_queryset(self) -> Any:  # without super(): the mixin's is not called
        return Document.objects.only("id", "title").order_by("id")


class _OwnQueryset(PreconditionMixin, viewsets.ModelViewSet[Document]):
    """Its own get_queryset(), ahead of the mixin's in the MRO (which it does not call)."""

    serializer_class = _Fields

    def get_queryset(self) -> Any:
        return Document.objects.only("id", "title").order_by("id")


class _ActionList(PreconditionMixin, viewsets.ModelViewSet[Document]):
    """A list action that serializes a deferring queryset it builds itself."""

    queryset = Document.objects.all()
    serializer_class = _Fields

    @action(detail=False)
    def titles(self, request: Any) -> Any:
        rows = Document.objects.only("id", "title").order_by("id")
        return Response(self.get_serializer(rows, many=True).data)


class _OwnLookup(PreconditionMixin, viewsets.ModelViewSet[Document]):
    """A get_object() of its own that ignores get_queryset() and defers the version."""

    queryset = Document.objects.all()
    serializer_class = _Fields

    def get_object(self) -> Document:
        document = get_object_or_404(ONLY, pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, document)
        return document


@require_preconditions(ONLY)
def _decorated(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "PUT":
        document.title = json.loads(request.body)["title"]
        document.save()
    return JsonResponse({"title": document.title})


class _ClassBased(TitleJsonView):
    queryset = DEFER


def _loads_without_last_modified(request: HttpRequest, pk: int) -> HttpResponse:
    """A plain view the middleware protects, loading the row without ``last_modified``."""
    document = get_object_or_404(Document.objects.only("title", "version_token"), pk=pk)
    if request.method == "PUT":
        document.title = json.loads(request.body)["title"]
        document.save()
    return JsonResponse({"title": document.title})


router = DefaultRouter()
router.register("plain-only", _PlainOnly, basename="plain-only")
router.register("only", _Only, basename="only")
router.register("plain-defer", _PlainDefer, basename="plain-defer")
router.register("defer", _Defer, basename="defer")
router.register("own-lookup", _OwnLookup, basename="own-lookup")
router.register("plain-own-queryset", _PlainOwnQueryset, basename="plain-own-queryset")
router.register("own-queryset", _OwnQueryset, basename="own-queryset")
router.register("action-list", _ActionList, basename="action-list")

urlpatterns = [
    path("decorated/<int:pk>/", _decorated),
    path("class-based/<int:pk>/", _ClassBased.as_view()),
    path("deferring/<int:pk>/", _loads_without_last_modified, name="deferring"),
    path("", include(router.urls)),
]


@contextlib.contextmanager
def _rival_writes_after_the_row_is_read(pk: int) -> Iterator[dict[str, bool]]:
    """Another request's write lands right after this request's first read of the row's
    title (as the race tests of the suite simulate a rival: a statement on the same
    connection, between two of the request's)."""
    state = {"written": False}
    title = connection.ops.quote_name("title")  # "title" or `title`

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if not state["written"] and sql.startswith("SELECT") and title in sql:
            state["written"] = True
            Document.objects.filter(pk=pk).update(title="rival's title")
        return result

    with connection.execute_wrapper(wrapper):
        yield state


def _queries(send: Any) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as captured:
        response = send()
    return response, len(captured.captured_queries)


@pytest.mark.parametrize("name", ["only", "defer", "own-queryset"])
def test_a_detail_read_costs_the_plain_viewsets_queries_and_names_the_stored_version(
    name: str,
) -> None:
    document = Document.objects.create(title="a")
    client = APIClient()
    plain, plain_count = _queries(lambda: client.get(f"/plain-{name}/{document.pk}/"))
    ours, count = _queries(lambda: client.get(f"/{name}/{document.pk}/"))
    assert plain.status_code == ours.status_code == 200
    assert count == plain_count
    assert ours["ETag"] == document.etag
    assert ours.has_header("Last-Modified")


@pytest.mark.parametrize("name", ["only", "defer", "own-queryset"])
@pytest.mark.parametrize("method", ["patch", "delete"])
def test_a_write_costs_no_query_more_than_the_plain_viewset(name: str, method: str) -> None:
    """No more; fewer for a PATCH: the plain save reads the deferred version fields, one
    query each, where ours loaded them with the row."""
    client = APIClient()
    counts = []
    for prefix in (f"plain-{name}", name):
        document = Document.objects.create(title="a")
        with CaptureQueriesContext(connection) as captured:
            response = getattr(client, method)(
                f"/{prefix}/{document.pk}/",
                {"title": "b"},
                format="json",
                headers={"If-Match": document.etag},
            )
        assert response.status_code in (200, 204), response.content
        counts.append(len(captured.captured_queries))
    assert counts[1] <= counts[0], counts


@pytest.mark.parametrize("name", ["only", "defer", "own-queryset"])
def test_a_list_costs_no_query_per_item(name: str) -> None:
    for number in range(20):
        Document.objects.create(title=f"t{number}")
    client = APIClient()
    plain, plain_count = _queries(lambda: client.get(f"/plain-{name}/"))
    ours, count = _queries(lambda: client.get(f"/{name}/"))
    assert plain.status_code == ours.status_code == 200
    assert count == plain_count
    assert ours.has_header("ETag")
    assert client.get(f"/{name}/", headers={"If-None-Match": ours["ETag"]}).status_code == 304


@pytest.mark.parametrize(
    "url",
    [
        "/only/{}/",
        "/defer/{}/",
        "/own-queryset/{}/",
        "/decorated/{}/",
        "/class-based/{}/",
        "/own-lookup/{}/",
    ],
)
def test_the_etag_served_names_the_data_served_with_it(url: str) -> None:
    """Rules 39, 44: a rival writes right after this request first reads the row. The
    version served is the one of the data served — read in the same statement (the
    adapters' querysets), or both read again together (a lookup of the view's own) — so a
    write of that data with that ETag never overwrites the rival's write unseen."""
    document = Document.objects.create(title="a")
    client = APIClient()
    with _rival_writes_after_the_row_is_read(document.pk) as rival:
        read = client.get(url.format(document.pk))
    assert rival["written"]
    assert read.status_code == 200
    rivals = Document.objects.get(pk=document.pk)
    served = json.loads(read.content)["title"]
    assert (served, read["ETag"]) in {("a", document.etag), (rivals.title, rivals.etag)}
    write = client.put(
        url.format(document.pk),
        {"title": served + " and mine"},
        format="json",
        headers={"If-Match": read["ETag"]},
    )
    stored = Document.objects.get(pk=document.pk).title
    if served == "a":
        assert write.status_code == 412, write.content
        assert stored == "rival's title"
    else:
        assert write.status_code == 200, write.content
        assert stored == "rival's title and mine"


def test_a_list_of_rows_loaded_without_their_tokens_gets_no_etag() -> None:
    """Rule 28: rows a list action loaded without their tokens would each read theirs by a
    query of its own, perhaps newer than the data served; such a list gets no ETag (so no
    304), and costs no query per item."""
    for number in range(5):
        Document.objects.create(title=f"t{number}")
    response, count = _queries(lambda: APIClient().get("/action-list/titles/"))
    assert response.status_code == 200
    assert len(response.data) == 5
    assert not response.has_header("ETag")
    assert count == 1 + 5  # the page, and the serializer's deferred counter (as without us)


@override_settings(
    MIDDLEWARE=MIDDLEWARE,
    PRECONDITIONS={
        "VIEWS": {
            "deferring": {
                "model": "testapp.Document",
                "lookup_url_kwarg": "pk",
                "methods": ["DELETE"],
            }
        }
    },
)
@pytest.mark.parametrize(
    ("since", "status", "title"),
    [("Mon, 01 Jan 2001 00:00:00 GMT", 412, "a"), ("served", 200, "b")],
)
def test_the_middleware_judges_if_unmodified_since_when_the_view_defers_last_modified(
    since: str, status: int, title: str
) -> None:
    """Rules 22, 23, 25: the view's query left ``last_modified`` out; the row still has a
    modification time, read when the write is judged. A stale date was ignored (as for a
    model without one) and the write applied, though no precondition was required of PUT
    here: one the request carries must hold."""
    document = Document.objects.create(title="a")
    Document.objects.filter(pk=document.pk).update_without_bump(
        last_modified=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    )
    client = Client()
    served = client.get(f"/deferring/{document.pk}/")["Last-Modified"]
    assert served == "Wed, 01 Jan 2020 00:00:00 GMT"
    response = client.put(
        f"/deferring/{document.pk}/",
        {"title": "b"},
        content_type="application/json",
        headers={"If-Unmodified-Since": served if since == "served" else since},
    )
    assert response.status_code == status, response.content
    assert Document.objects.get(pk=document.pk).title == title
