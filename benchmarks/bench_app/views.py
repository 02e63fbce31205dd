"""The variants the benchmarks compare. Each group serves the same model through the same
serializer; only the conditional-request machinery differs.

- ``Plain*``: DRF's ``ModelViewSet`` as is (the baseline; also served behind Django's
  ``ConditionalGetMiddleware`` by the benchmark client that adds it).
- ``Ours*``: the same viewset with ``PreconditionMixin`` first among its bases.
- ``Ext*``: the same viewset with drf-extensions' ``APIETAGMixin`` (ETags computed from the
  model instance, If-Match required on unsafe methods).
- ``doc_by_rule``: a plain function view that only an admin rule (``ProtectedEndpoint``)
  protects, through ``PreconditionMiddleware``.
- ``throughput_ours`` / ``throughput_locked``: one endpoint written twice, with
  ``require_preconditions`` (compare-and-swap) and with ``select_for_update()``.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from rest_framework import viewsets
from rest_framework.pagination import PageNumberPagination
from rest_framework_extensions.etag.mixins import APIETAGMixin

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin

from .models import Doc, Wide
from .serializers import DocSerializer, WideSerializer


class PageOf100(PageNumberPagination):
    page_size = 100


# --- DRF viewsets ----------------------------------------------------------------------------


class PlainDocViewSet(viewsets.ModelViewSet[Doc]):
    queryset = Doc.objects.all()
    serializer_class = DocSerializer
    pagination_class = PageOf100


class OursDocViewSet(PreconditionMixin, PlainDocViewSet):
    pass


class ExtDocViewSet(APIETAGMixin, PlainDocViewSet):  # type: ignore[misc]
    pass


class PlainWideViewSet(viewsets.ModelViewSet[Any]):
    queryset = Wide.objects.all()
    serializer_class = WideSerializer
    pagination_class = PageOf100


class OursWideViewSet(PreconditionMixin, PlainWideViewSet):
    pass


class ExtWideViewSet(APIETAGMixin, PlainWideViewSet):  # type: ignore[misc]
    pass


# --- Function views --------------------------------------------------------------------------


def _doc_json(doc: Doc) -> dict[str, Any]:
    return {"id": doc.pk, "title": doc.title, "status": doc.status, "counter": doc.counter}


def doc_by_rule(request: HttpRequest, pk: int) -> HttpResponse:
    """A plain view: it loads the Doc itself (the middleware never reads it before the view;
    it adds the ETag from the row the view loaded)."""
    return JsonResponse(_doc_json(get_object_or_404(Doc, pk=pk)))


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
