"""Views without any protection in code, written as ordinary Django views with their own
access control, for the settings/admin-configured middleware (tests/test_middleware_order.py)."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views import View
from django.views.decorators.http import require_http_methods

from .models import Document, PlainCounter
from .views import representation, serve_document


@login_required
@require_http_methods(["GET", "HEAD", "PUT", "DELETE"])
def owned_document(request: HttpRequest, pk: int) -> HttpResponse:
    """Only the owner may see or change a document: others get 404 (rules 12, 13)."""
    return serve_document(
        request, get_object_or_404(Document.objects.filter(owner=request.user.pk), pk=pk)
    )


@require_http_methods(["GET", "HEAD"])
def read_only_document(request: HttpRequest, pk: int) -> HttpResponse:
    return JsonResponse(representation(get_object_or_404(Document, pk=pk)))


@require_http_methods(["PUT"])
def audited_document(request: HttpRequest, pk: int) -> HttpResponse:
    """Writes another row (an audit counter) before saving the document."""
    document = get_object_or_404(Document, pk=pk)
    PlainCounter.objects.create(counter=document.pk)
    return serve_document(request, document)


@login_required
@require_http_methods(["PUT"])
def bump_counter(request: HttpRequest, pk: int) -> HttpResponse:
    """No versioned model: protected by a headers-only rule."""
    counter = get_object_or_404(PlainCounter, pk=pk)
    counter.counter += 1
    counter.save()
    return JsonResponse({"counter": counter.counter})


class ReadOnlyDocumentView(View):
    """A class-based view that only reads: PUT/PATCH/DELETE get its 405."""

    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return JsonResponse(representation(get_object_or_404(Document, pk=pk)))


@require_http_methods(["PUT"])
def swallowing_document(request: HttpRequest, pk: int) -> HttpResponse:
    """Catches every exception of its save and answers 200 anyway."""
    document = get_object_or_404(Document, pk=pk)
    document.title = "swallowed"
    try:
        document.save()
    except Exception:  # the refusal too: the middleware still refuses and rolls back
        return JsonResponse({"saved": False})
    return JsonResponse(representation(document))


@require_http_methods(["GET", "PUT"])
def upserting_document(request: HttpRequest, pk: int) -> HttpResponse:
    """PUT creates the document when it is absent (create-by-PUT), as views often do."""
    if request.method == "GET":
        return JsonResponse(representation(get_object_or_404(Document, pk=pk)))
    document = Document.objects.filter(pk=pk).first()
    created = document is None
    if document is None:
        document = Document(pk=pk)
    document.title = json.loads(request.body or b"{}").get("title", "")
    document.save()
    return JsonResponse(representation(document), status=201 if created else 200)


@require_http_methods(["PUT"])
def updating_document(request: HttpRequest, pk: int) -> HttpResponse:
    """Writes the row with QuerySet.update(), without loading it (no compare-and-swap)."""
    Document.objects.filter(pk=pk).update(title="updated")
    return HttpResponse(status=204)


@require_http_methods(["GET", "PUT"])
def rule_note(request: HttpRequest, key: str) -> HttpResponse:
    """A row looked up by a unique field that is not the primary key (``view``)."""
    from django_preconditions.models import ProtectedEndpoint

    rule = get_object_or_404(ProtectedEndpoint, view=key)
    if request.method == "PUT":
        rule.note = request.body.decode()
        rule.save()
    return JsonResponse({"view": rule.view, "note": rule.note})


@require_http_methods(["PUT"])
async def async_audited_document(request: HttpRequest, pk: int) -> HttpResponse:
    """The async twin of ``audited_document``."""
    document = await Document.objects.aget(pk=pk)
    await PlainCounter.objects.acreate(counter=document.pk)
    document.title = "new"
    await document.asave()
    return JsonResponse(representation(document))
