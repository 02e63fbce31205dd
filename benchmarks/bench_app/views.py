"""The variants the benchmarks compare. Each group serves the same fields through the same
serializer settings; only the model's version columns and the conditional-request machinery
differ.

- ``PlainModel*`` / ``plain_doc``: the baseline, what a project has before adopting the app: a
  plain ``models.Model`` (``PlainDoc``) behind DRF's ``ModelViewSet`` as is, or a plain
  function view (also served behind Django's ``ConditionalGetMiddleware`` by the benchmark
  client that adds it).
- ``Columns*``: the same ``ModelViewSet`` over the ``VersionedModel`` (``Doc``), without the
  mixin: what the two version columns cost alone.
- ``Ours*`` / ``ours_doc`` / ``doc_by_rule``: ``PreconditionMixin`` first among the bases;
  ``require_preconditions(Doc)``; a plain function view that only an admin rule
  (``ProtectedEndpoint``) protects, through ``PreconditionMiddleware``.
- ``OursToken*`` / ``ours_token_doc``: the same over ``TokenDoc``, a ``VersionedModel`` that
  removed ``last_modified`` (versioned by the token alone, no ``Last-Modified``).
- ``Ext*``: drf-extensions' ``APIETAGMixin`` (ETags computed from the model instance,
  If-Match required on unsafe methods) over ``Doc``.
- ``Conc*``: django-concurrency as its documentation shows it: an ``IntegerVersionField`` on
  the model (``ConcDoc``), the version in the serializer, ``ConcurrencyMiddleware`` for 409.
- ``throughput_ours`` / ``throughput_locked``: one endpoint written twice, with
  ``require_preconditions`` (compare-and-swap) and with ``select_for_update()``.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from rest_framework import viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework_extensions.etag.mixins import APIETAGMixin

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin

from .models import ConcDoc, Doc, PlainDoc, TokenDoc, Wide
from .serializers import (
    ConcDocSerializer,
    DocSerializer,
    PlainDocSerializer,
    TokenDocSerializer,
    WideSerializer,
)


class Pages(PageNumberPagination):
    """Pages of 100 by default; ``?page_size=`` up to 1,000 for the page-size curve."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


# --- DRF viewsets ----------------------------------------------------------------------------


class PlainModelDocViewSet(viewsets.ModelViewSet[PlainDoc]):
    queryset = PlainDoc.objects.all()
    serializer_class = PlainDocSerializer
    pagination_class = Pages


class ColumnsDocViewSet(viewsets.ModelViewSet[Doc]):
    queryset = Doc.objects.all()
    serializer_class = DocSerializer
    pagination_class = Pages


class OursDocViewSet(PreconditionMixin, ColumnsDocViewSet):
    pass


class OursTokenDocViewSet(PreconditionMixin, viewsets.ModelViewSet[TokenDoc]):
    queryset = TokenDoc.objects.all()
    serializer_class = TokenDocSerializer
    pagination_class = Pages


class ExtDocViewSet(APIETAGMixin, ColumnsDocViewSet):  # type: ignore[misc]
    pass


class ConcDocViewSet(viewsets.ModelViewSet[ConcDoc]):
    queryset = ConcDoc.objects.all()
    serializer_class = ConcDocSerializer
    pagination_class = Pages


class PlainWideViewSet(viewsets.ModelViewSet[Any]):
    queryset = Wide.objects.all()
    serializer_class = WideSerializer
    pagination_class = Pages


class OursWideViewSet(PreconditionMixin, PlainWideViewSet):
    pass


class ExtWideViewSet(APIETAGMixin, PlainWideViewSet):  # type: ignore[misc]
    pass


# --- Function views --------------------------------------------------------------------------


def _doc_json(doc: models.Model) -> dict[str, Any]:
    return {
        "id": doc.pk,
        "title": doc.title,  # type: ignore[attr-defined]
        "status": doc.status,  # type: ignore[attr-defined]
        "counter": doc.counter,  # type: ignore[attr-defined]
    }


def _apply(request: HttpRequest, doc: models.Model) -> None:
    """PUT: take ``title`` and ``counter`` from the JSON body and save (the row changes)."""
    data = json.loads(request.body)
    doc.title = str(data.get("title", doc.title))  # type: ignore[attr-defined]
    doc.counter = int(data["counter"])  # type: ignore[attr-defined]
    doc.save()


def _serve(request: HttpRequest, doc: models.Model) -> HttpResponse:
    """The body every function view variant shares: GET answers the document, PUT edits it."""
    if request.method == "PUT":
        _apply(request, doc)
    return JsonResponse(_doc_json(doc))


def plain_doc(request: HttpRequest, pk: int) -> HttpResponse:
    """The baseline function view: GET or PUT one ``PlainDoc``, no preconditions."""
    return _serve(request, get_object_or_404(PlainDoc, pk=pk))


def columns_doc(request: HttpRequest, pk: int) -> HttpResponse:
    """The baseline view over ``Doc``, unprotected: what the two columns (and a save's new
    token and time) cost a function view, without any of the adapter's work."""
    return _serve(request, get_object_or_404(Doc, pk=pk))


@require_preconditions(Doc)
def ours_doc(request: HttpRequest, pk: int) -> HttpResponse:
    """The same view protected by the decorator (the object comes loaded)."""
    return _serve(request, request.preconditions.instance)  # type: ignore[attr-defined]


@require_preconditions(TokenDoc)
def ours_token_doc(request: HttpRequest, pk: int) -> HttpResponse:
    """The decorator over ``TokenDoc`` (versioned by the token alone)."""
    return _serve(request, request.preconditions.instance)  # type: ignore[attr-defined]


def doc_by_rule(request: HttpRequest, pk: int) -> HttpResponse:
    """A plain function view over ``Doc`` that only an admin rule protects: it loads the Doc
    itself (the middleware never reads it before the view; it adds the ETag of the row the
    view loaded, and makes the view's save of that row a compare-and-swap)."""
    return _serve(request, get_object_or_404(Doc, pk=pk))


@require_preconditions(Doc)
def throughput_ours(request: HttpRequest, pk: int) -> HttpResponse:
    """GET the document; PUT ``{"counter": n}`` with If-Match (a compare-and-swap save)."""
    doc = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "PUT":
        doc.counter = int(json.loads(request.body)["counter"])
        doc.save()
    return JsonResponse(_doc_json(doc))


def throughput_locked(request: HttpRequest, pk: int) -> HttpResponse:
    """The same endpoint the pessimistic way: lock the row, compare If-Match, write."""
    if request.method == "GET":
        doc = get_object_or_404(Doc, pk=pk)
        response = JsonResponse(_doc_json(doc))
        response["ETag"] = doc.etag
        return response
    if request.method != "PUT":
        return HttpResponse(status=405)
    if_match = request.headers.get("If-Match")
    if not if_match:
        return HttpResponse(status=428)
    counter = int(json.loads(request.body)["counter"])
    with transaction.atomic():
        doc = get_object_or_404(Doc.objects.select_for_update(), pk=pk)
        if if_match != doc.etag:
            return HttpResponse(status=412)
        doc.counter = counter
        doc.save()
    response = JsonResponse(_doc_json(doc))
    response["ETag"] = doc.etag
    return response
