"""A URLconf whose views get their row from the URL in ways the middleware's lookup must
follow (tests/test_middleware.py mounts it with ``pytest.mark.urls``): converters that hand
the view the object itself, and a key the rule's field cannot take."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, JsonResponse
from django.urls import path, register_converter

from tests.testapp.models import Document, DocumentProxy, SluggedDocument


class DocumentConverter:
    """``to_python`` loads the row: the view receives a ``Document``, not its id."""

    regex = "[0-9]+"
    model: Any = Document
    field = "pk"

    def to_python(self, value: str) -> Any:
        return self.model.objects.get(**{self.field: value})

    def to_url(self, value: Any) -> str:
        return str(getattr(value, self.field))


class DocumentProxyConverter(DocumentConverter):
    """The same rows through a proxy class (rule 53)."""

    model = DocumentProxy


class SluggedDocumentConverter(DocumentConverter):
    """A row found by its unique slug (the rule's lookup field)."""

    regex = "[-a-z0-9]+"
    model = SluggedDocument
    field = "slug"


register_converter(DocumentConverter, "document_object")
register_converter(DocumentProxyConverter, "document_proxy_object")
register_converter(SluggedDocumentConverter, "slugged_object")


def edit_document(request: HttpRequest, document: Any) -> JsonResponse:
    """Sets the title from a JSON PUT and saves the row it was given (a plain view)."""
    if request.method == "PUT":
        document.title = json.loads(request.body)["title"]
        document.save()
    return JsonResponse({"title": document.title})


def bump_slugged(request: HttpRequest, document: SluggedDocument) -> JsonResponse:
    """Adds one to the counter of the row it was given on PUT."""
    if request.method == "PUT":
        document.counter += 1
        document.save()
    return JsonResponse({"counter": document.counter})


def edit_keyed_document(request: HttpRequest, key: str) -> JsonResponse:
    """Finds its row from ``doc-<id>``, a key the rule's integer field cannot take."""
    number = key.removeprefix("doc-")
    if not number.isdigit():
        raise Http404(key)
    try:
        document = Document.objects.get(pk=int(number))
    except Document.DoesNotExist:
        raise Http404(key) from None
    return edit_document(request, document)


urlpatterns = [
    path("conv/<document_object:document>/", edit_document, name="conv-document"),
    path("conv/proxy/<document_proxy_object:document>/", edit_document, name="conv-proxy"),
    path("conv/slugged/<slugged_object:document>/", bump_slugged, name="conv-slugged"),
    path("keyed/<str:key>/", edit_keyed_document, name="keyed-document"),
]
