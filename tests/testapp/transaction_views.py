"""Views for tests/test_request_transactions.py: each writes a side row, lets a rival request
commit a new version of the document, then saves it (a lost race under any isolation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View
from rest_framework import serializers, viewsets

from django_preconditions.decorators import require_preconditions
from django_preconditions.rest_framework import PreconditionMixin
from django_preconditions.views import PreconditionRequiredMixin

from .models import Document, PlainCounter, SluggedDocument
from .serializers import DocumentSerializer

#: Set by the tests: commits a new version of the row from another connection.
RIVAL: list[Callable[[int], None]] = []


def race(pk: int) -> None:
    """Read inside the request's transaction first (under REPEATABLE READ that fixes its
    snapshot; SQLite would block the rival then), let the rival commit, write a side row."""
    if connection.vendor != "sqlite":
        Document.objects.filter(pk=pk).exists()
    for rival in RIVAL:
        rival(pk)
    PlainCounter.objects.create(counter=pk)


@require_preconditions(Document)
def racing_document(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "PUT":
        race(pk)
        document.title = "mine"
        document.save()
    return JsonResponse({"title": document.title})


def racing_plain_document(request: HttpRequest, pk: int) -> HttpResponse:
    """No protection in code: PreconditionMiddleware protects it from settings."""
    document = Document.objects.get(pk=pk)
    if request.method == "PUT":
        race(pk)
        document.title = "mine"
        document.save()
    return JsonResponse({"title": document.title})


class RacingDocumentView(PreconditionRequiredMixin, View):
    def get_precondition_object(self) -> Document:
        return Document.objects.get(pk=self.kwargs["pk"])

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return JsonResponse({"title": Document.objects.get(pk=pk).title})

    def put(self, request: HttpRequest, pk: int) -> HttpResponse:
        race(pk)
        document = Document.objects.get(pk=pk)
        document.title = "mine"
        document.save()
        return JsonResponse({"title": document.title})


class RacingDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer

    def perform_update(self, serializer: Any) -> None:
        race(serializer.instance.pk)
        serializer.save()


#: perform_update() calls of SluggedDocumentViewSet: more than the successes when a request
#: was run again after a database conflict.
UPDATE_RUNS: list[int] = []


class SluggedDocumentViewSet(PreconditionMixin, viewsets.ModelViewSet):
    queryset = SluggedDocument.objects.all()

    def perform_update(self, serializer: Any) -> None:
        UPDATE_RUNS.append(serializer.instance.pk)
        serializer.save()

    serializer_class = type(
        "SluggedDocumentSerializer",
        (serializers.ModelSerializer,),
        {"Meta": type("Meta", (), {"model": SluggedDocument, "fields": "__all__"})},
    )
