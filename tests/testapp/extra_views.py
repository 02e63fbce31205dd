"""Extra views for the HTTP-level tests of the decorators and the class-based-view mixin.

Each one isolates a single property the views in ``views.py`` cannot show: that the view
function is not called on a 304, that headers added by decorators outside
``require_preconditions`` reach the 304, that 401/403/405 come before 412/428, that OPTIONS
and TRACE ignore preconditions, an entity-tag containing a comma, and a class-based view that
only sees the requesting user's documents.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers
from django.views.generic.detail import SingleObjectMixin

from django_preconditions.decorators import condition, require_preconditions
from django_preconditions.views import PreconditionRequiredMixin

from .models import Document
from .views import representation

#: How many times each counting view's body ran, by view name.
CALLS: dict[str, int] = {}


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@require_preconditions(Document)
def counted_document(request: HttpRequest, pk: int) -> HttpResponse:
    """Counts its calls: a 304 must be decided without calling it (rule 28)."""
    _count("counted_document")
    return JsonResponse(representation(request.preconditions.instance))  # type: ignore[attr-defined]


@require_preconditions(Document)
async def async_counted_document(request: HttpRequest, pk: int) -> HttpResponse:
    _count("async_counted_document")
    return JsonResponse(representation(request.preconditions.instance))  # type: ignore[attr-defined]


@cache_control(private=True, max_age=60)
@vary_on_headers("Accept")
@require_preconditions(Document)
def cached_document(request: HttpRequest, pk: int) -> HttpResponse:
    """Cache-Control and Vary come from decorators outside ``require_preconditions``."""
    return JsonResponse(representation(request.preconditions.instance))  # type: ignore[attr-defined]


@require_http_methods(["GET", "PUT"])
@require_preconditions(Document)
def get_put_document(request: HttpRequest, pk: int) -> HttpResponse:
    """DELETE is not allowed here: 405 whatever the preconditions say (rule 12)."""
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "PUT":
        document.title = "put"
        document.save()
    return JsonResponse(representation(document))


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """401 for anonymous callers, 403 for non-staff users."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            response = JsonResponse({"error": "not_authenticated"}, status=401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="tests"'
            return response
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


@staff_required
@require_preconditions(Document)
def staff_document(request: HttpRequest, pk: int) -> HttpResponse:
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method in ("PUT", "PATCH"):
        document.title = "staff"
        document.save()
    return JsonResponse(representation(document))


@require_preconditions(Document)
def document_with_options(request: HttpRequest, pk: int) -> HttpResponse:
    """Answers OPTIONS and TRACE itself, without touching the document."""
    if request.method in ("OPTIONS", "TRACE"):
        response = HttpResponse(status=204)
        response.headers["Allow"] = "GET, HEAD, PUT, DELETE, OPTIONS"
        return response
    document = request.preconditions.instance  # type: ignore[attr-defined]
    if request.method == "PUT":
        document.title = "put"
        document.save()
    return JsonResponse(representation(document))


COMMA_ETAG = '"a,b"'


@condition(etag_func=lambda request: COMMA_ETAG)
def comma_etag(request: HttpRequest) -> HttpResponse:
    """An entity-tag with a comma inside its quotes (rule 2)."""
    return HttpResponse("comma")


class OwnedDocumentJsonView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc,type-arg]
    """Only the requesting user's documents exist for this view (rule 13)."""

    model = Document

    def get_queryset(self) -> Any:
        return Document.objects.filter(owner=self.request.user.pk)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return JsonResponse(representation(self.get_object()))

    def put(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = self.get_object()
        document.title = "owned"
        document.save()
        return JsonResponse(representation(document))


class CountedDocumentJsonView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc,type-arg]
    """Counts its GET handler's calls: a 304 must be decided without it (rule 28)."""

    model = Document

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _count("CountedDocumentJsonView")
        return JsonResponse(representation(self.get_object()))


class AsyncCountedDocumentJsonView(PreconditionRequiredMixin, SingleObjectMixin, View):  # type: ignore[misc,type-arg]
    model = Document

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _count("AsyncCountedDocumentJsonView")
        return JsonResponse(representation(self.get_object()))
