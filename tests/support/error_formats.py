"""Custom error formats for the tests: ``PRECONDITIONS["ERROR_FORMAT"]`` may be the dotted
path of a callable ``(request, error) -> HttpResponse`` (CONFORMANCE rule 34)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from rest_framework.response import Response

from django_preconditions.responses import PreconditionError

#: The members of a 428 in the built-in "json" guidance format (CONFORMANCE rule 34), written
#: out here rather than read from the package, so that the tests check the package's list.
GUIDANCE_KEYS = {
    "error",
    "message",
    "required_headers",
    "current_etag",
    "example",
    "steps",
    "documentation",
}


def envelope_error(request: HttpRequest, error: PreconditionError) -> HttpResponse:
    """A project's own envelope: ``{"ok": false, "error": {...}}``."""
    return JsonResponse(
        {
            "ok": False,
            "error": {
                "code": error.code,
                "status": error.status,
                "path": request.path,
                "message": error.detail,
            },
        },
        status=error.status,
    )


def not_a_response(request: HttpRequest, error: PreconditionError) -> Any:
    """A broken format: returns the body instead of a response."""
    return {"detail": error.detail}


def missing_template(request: HttpRequest, error: PreconditionError) -> HttpResponse:
    """A broken format: a response rendered later, from a template that does not exist."""
    return TemplateResponse(request, "no/such/template.json", {"error": error}, status=error.status)


def drf_response(request: HttpRequest, error: PreconditionError) -> HttpResponse:
    """A DRF ``Response``: rendered by DRF in a DRF view; outside DRF it cannot be rendered."""
    return Response({"problem": error.code}, status=error.status)
