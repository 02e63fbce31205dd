"""The DRF adapter's exceptions: a refused precondition as an ``APIException``, so a
project's ``EXCEPTION_HANDLER`` sees it, and the internal signals that leave DRF's handler
early (a 304, a lost race)."""

from __future__ import annotations

from typing import Any, Final

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status

from ..conditions import Decision, Outcome
from ..enforcement import Snapshot
from ..exceptions import VersionConflict
from ..policy import Policy
from ..responses import PreconditionError

__all__ = [
    "DatabaseConflict",
    "MalformedPrecondition",
    "PreconditionAPIException",
    "PreconditionFailed",
    "PreconditionRequired",
]


class PreconditionAPIException(exceptions.APIException):
    """A refused precondition, raised through DRF's exception handling.

    ``error`` (a :class:`~django_preconditions.responses.PreconditionError`) holds the facts
    for every body format, so a custom ``EXCEPTION_HANDLER`` can build its own body from it.
    """

    error: PreconditionError | None = None
    decision: Decision | None = None
    policy: Policy | None = None

    def __init__(
        self,
        detail: Any = None,
        code: str | None = None,
        *,
        error: PreconditionError | None = None,
        decision: Decision | None = None,
        policy: Policy | None = None,
    ) -> None:
        if error is not None:
            detail = error.detail if detail is None else detail
            code = code or error.code
        super().__init__(detail, code)
        self.error = error
        self.decision = decision
        self.policy = policy


class PreconditionFailed(PreconditionAPIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _(
        "The resource changed since you read it. Read it again, re-apply your change and retry."
    )
    default_code = "precondition_failed"


class PreconditionRequired(PreconditionAPIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = _("This request must be conditional: send If-Match with the ETag you read.")
    default_code = "precondition_required"


class MalformedPrecondition(PreconditionAPIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("A conditional request header could not be parsed.")
    default_code = "malformed_precondition"


class DatabaseConflict(PreconditionAPIException):
    """503: the database refused the write (serialization failure, deadlock) although the
    resource did not change; nothing was applied and the request may be sent again."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The database refused this write because of a concurrent request; retry.")
    default_code = "database_conflict"
    #: Whether the request may be run again (everything it wrote was rolled back).
    retryable = True


class _ConflictEscape(Exception):
    """Carries a conflict out of DRF's dispatch, so the request transaction rolls back
    before the current version is read for the answer."""

    def __init__(self, conflict: VersionConflict) -> None:
        super().__init__(str(conflict))
        self.conflict = conflict


_EXCEPTIONS: Final[dict[Outcome, type[PreconditionAPIException]]] = {
    Outcome.MALFORMED: MalformedPrecondition,
    Outcome.PRECONDITION_FAILED: PreconditionFailed,
    Outcome.PRECONDITION_REQUIRED: PreconditionRequired,
}


class _NotModified(Exception):
    """Leaves the handler before the serializer runs; turned into a 304 (rule 28)."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__("not modified")
        self.snapshot = snapshot
