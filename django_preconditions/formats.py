"""The registry of built-in error formats (rule 34): one entry per ``ERROR_FORMAT`` name.

Everything that depends on the format reads this registry: the renderer
(:func:`~django_preconditions.responses.render`), the DRF mixin, the OpenAPI schema
(:mod:`~django_preconditions.spectacular`), the settings and admin-rule validation, the
admin's choices and the admin rules' merge. Adding a format is one entry here (and, when
its body has a new shape, a ``PreconditionError.as_…`` method and a schema serializer).

A project-defined format is not registered: ``ERROR_FORMAT`` names its callable instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

if TYPE_CHECKING:
    from .responses import PreconditionError

__all__ = ["ERROR_FORMATS", "JSON_CONTENT_TYPE", "PROBLEM_CONTENT_TYPE", "ErrorFormat", "built_in"]

PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
JSON_CONTENT_TYPE: Final = "application/json"


@dataclass(frozen=True)
class ErrorFormat:
    """A built-in error body: how it is built, sent and documented."""

    name: str
    #: The admin's choice label.
    label: str | Promise
    #: The body, from the facts every format shares.
    body: Callable[[PreconditionError], dict[str, Any]]
    content_type: str
    #: Name of the serializer in :mod:`~django_preconditions.spectacular` documenting it.
    schema: str
    #: The members every body of this format has (what ``assert_protected`` checks).
    members: tuple[str, ...] = ()
    #: With ``JSON_DETAILED_HEADERS``: required headers as objects (and that schema).
    detailed_schema: str | None = None

    @property
    def header(self) -> str:
        """The ``Content-Type`` header value (JSON with its charset, as Django sends it)."""
        if self.content_type == JSON_CONTENT_TYPE:
            return f"{self.content_type}; charset=utf-8"
        return self.content_type

    def detailed(self, json_detailed_headers: bool) -> bool:
        return json_detailed_headers and self.detailed_schema is not None


_BUILT_IN: Final = (
    ErrorFormat(
        "problem",
        gettext_lazy("problem: RFC 9457 problem details"),
        lambda error: error.as_problem(),
        PROBLEM_CONTENT_TYPE,
        "PreconditionProblemSerializer",
        members=("type", "title", "status", "detail"),
    ),
    ErrorFormat(
        "json",
        gettext_lazy("json: guidance JSON"),
        lambda error: error.as_guidance(),
        JSON_CONTENT_TYPE,
        "PreconditionGuidanceSerializer",
        members=("error", "message", "required_headers", "current_etag", "example", "steps"),
        detailed_schema="PreconditionDetailedGuidanceSerializer",
    ),
    ErrorFormat(
        "drf",
        gettext_lazy("drf: Django REST framework"),
        lambda error: error.as_drf(),
        JSON_CONTENT_TYPE,
        "PreconditionDRFErrorSerializer",
        members=("detail", "code"),
    ),
)

#: name → format, in the order the admin lists them.
ERROR_FORMATS: Final[Mapping[str, ErrorFormat]] = {fmt.name: fmt for fmt in _BUILT_IN}


def built_in(error_format: Any) -> ErrorFormat | None:
    """The registered format ``error_format`` names, or ``None`` for a project's callable
    (or its dotted path)."""
    if callable(error_format) or not isinstance(error_format, str):
        return None
    return ERROR_FORMATS.get(error_format)
