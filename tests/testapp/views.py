"""Views used by the tests: JSON function views, async views, class-based views."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View
from django.views.decorators.http import require_http_methods
from django.views.generic import DeleteView, UpdateView
from django.views.generic.detail import SingleObjectMixin

from django_preconditions.decorators import require_preconditions
from django_preconditions.enforcement import set_validators
from django_preconditions.views import PreconditionRequiredMixin

from .models import Document, Folder, PlainCounter

# Outside the protection, as recommended: 405 comes first (rule 12). POST is accepted (and
# treated as a write) to show that methods outside the policy are not required to be
# conditional (rule 32); OPTIONS is answered without touching the object (rule 14).
DETAIL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
detail_methods = require_http_methods(DETAIL_METHODS)


def options() -> HttpResponse:
    response = HttpResponse()
    response["Allow"] = ", ".join(DETAIL_METHODS)
    return response


def representation(document: Document) -> dict[str, Any]:
    return {
        "id": document.pk,
        "title": document.title,
        "body": document.body,
        "counter": document.counter,
    }


def _apply_body(request: HttpRequest, document: Document) -> HttpResponse | None:
    """Parse and validate the JSON body into ``document``; a 400 response if invalid."""
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "invalid_json"}, status=400)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(field, ""), str) for field in ("title", "body")
    ):
        return JsonResponse({"error": "invalid_body"}, status=400)
    if request.method == "PUT" and "title" not in data:
        return JsonResponse({"error": "title is required"}, status=400)
    for field in ("title", "body"):
        if field in data:
            setattr(document, field, data[field])
    if "counter" in data:
        if not isinstance(data["counter"], int):
            return JsonResponse({"error": "counter must be an integer"}, status=400)
        document.counter = data["counter"]
    return None


@detail_methods
@require_preconditions(Document)
def document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # Fetch again on purpose: the compare-and-swap must hold for any instance of the row.
    if request.method == "OPTIONS":
        return options()
    return serve_document(request, Document.objects.get(pk=pk))


@detail_methods
@require_preconditions(Document)
def document_detail_reusing_instance(request: HttpRequest, pk: int) -> HttpResponse:
    """Uses the instance loaded by the decorator: no query of its own."""
    if request.method == "OPTIONS":
        return options()
    return serve_document(request, request.preconditions.instance)  # type: ignore[attr-defined]


@detail_methods
def plain_document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The same view without protection: the baseline for query counts."""
    if request.method == "OPTIONS":
        return options()
    return serve_document(request, Document.objects.get(pk=pk))


def serve_document(request: HttpRequest, document: Document) -> HttpResponse:
    """GET/HEAD, DELETE or a write of ``document``, loaded by the view, with plain
    ``save()``/``delete()``: what an unprotected view does, and what the protected ones do
    inside the protection."""
    if request.method in ("GET", "HEAD"):
        return JsonResponse(representation(document))
    if request.method == "DELETE":
        document.delete()
        return HttpResponse(status=204)
    invalid = _apply_body(request, document)
    if invalid is not None:
        return invalid
    document.save()
    return JsonResponse(representation(document))


async def aserve_document(request: HttpRequest, document: Document) -> HttpResponse:
    """:func:`serve_document` for async views: ``asave()``/``adelete()``."""
    if request.method in ("GET", "HEAD"):
        return JsonResponse(representation(document))
    if request.method == "DELETE":
        await document.adelete()
        return HttpResponse(status=204)
    invalid = _apply_body(request, document)
    if invalid is not None:
        return invalid
    await document.asave()
    return JsonResponse(representation(document))


@detail_methods
async def async_plain_document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Unprotected in code, async: protected through settings/admin rules in some tests."""
    if request.method == "OPTIONS":
        return options()
    return await aserve_document(request, await Document.objects.aget(pk=pk))


@detail_methods
@require_preconditions(Document)
async def async_document_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method == "OPTIONS":
        return options()
    return await aserve_document(request, await Document.objects.aget(pk=pk))


@require_preconditions(Document, allow_create=True)
def document_put_create(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    created = document is None
    if created:
        document = Document(pk=pk)
    invalid = _apply_body(request, document)
    if invalid is not None:
        return invalid
    document.save()
    response = JsonResponse(representation(document), status=201 if created else 200)
    return set_validators(response, document)


@require_preconditions(
    Document,
    methods=["PUT", "DELETE"],
    required_headers=["If-Match"],
    allow_wildcard=True,
    error_format="json",
)
def document_custom_policy(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "PATCH":
        document.title = "patched"
        document.save()
    return JsonResponse(representation(document))


@require_preconditions(lambda request: Document.objects.filter(owner=request.user.pk))
def owned_document(request: HttpRequest, pk: int) -> HttpResponse:
    return JsonResponse(representation(request.preconditions.instance))  # type: ignore[attr-defined]


@require_preconditions(Folder)
def folder_detail(request: HttpRequest, pk: int) -> HttpResponse:
    folder = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "DELETE":
        folder.delete()
        return HttpResponse(status=204)
    return JsonResponse({"id": folder.pk, "name": folder.name})


def plain_counter(request: HttpRequest, pk: int) -> HttpResponse:
    """Unprotected read-modify-write: the control that loses updates."""
    counter = PlainCounter.objects.get(pk=pk)
    if request.method == "PUT":
        counter.counter = json.loads(request.body)["counter"]
        counter.save()
    return JsonResponse({"counter": counter.counter})


class TitleJsonView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    """GET the document's title; PUT ``{"title": ...}`` to change it. Subclasses say how the
    object is found (``model``, ``queryset``, ``get_object()``)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return JsonResponse({"title": self.get_object().title})

    def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = self.get_object()
        document.title = json.loads(request.body)["title"]
        document.save()
        return JsonResponse({"title": document.title})


class DocumentJsonView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    model = Document

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return JsonResponse(representation(self.get_object()))

    def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = self.get_object()
        invalid = _apply_body(request, document)
        if invalid is not None:
            return invalid
        document.save()
        return JsonResponse(representation(document))

    def delete(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.get_object().delete()
        return HttpResponse(status=204)


class AsyncDocumentJsonView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc]
    model = Document

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return JsonResponse(representation(self.get_object()))

    async def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = self.get_object()
        invalid = _apply_body(request, document)
        if invalid is not None:
            return invalid
        await document.asave()
        return JsonResponse(representation(document))

    async def delete(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        await self.get_object().adelete()
        return HttpResponse(status=204)


class DocumentUpdate(PreconditionRequiredMixin, UpdateView):  # type: ignore[misc]
    model = Document
    fields = ["title", "body"]
    precondition_methods = ["POST", "PUT", "PATCH", "DELETE"]
    template_name = "testapp/document_form.html"
    success_url = "/done/"


class DocumentDelete(PreconditionRequiredMixin, DeleteView):  # type: ignore[misc]
    model = Document
    precondition_methods = ["POST", "DELETE"]
    template_name = "testapp/document_confirm_delete.html"
    success_url = "/done/"
