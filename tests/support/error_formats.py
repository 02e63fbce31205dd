"""Custom error formats for the tests: ``PRECONDITIONS["ERROR_FORMAT"]`` may be the dotted
path of a callable ``(request, error) -> HttpResponse`` (CONFORMANCE rule 34)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from django_preconditions.responses import PreconditionError


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
