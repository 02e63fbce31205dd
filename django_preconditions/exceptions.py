"""Exceptions raised by the package.

`VersionConflict` is what a compare-and-swap write raises when the row no longer carries
the version the writer expected; every adapter turns it into 412 Precondition Failed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext


class VersionConflict(Exception):
    """The stored version is no longer the one the write expected (or the row is gone).

    ``reason`` is ``"stale"`` (the compare-and-swap matched no row: another write changed or
    deleted it first) or ``"database"`` (the database reported a concurrency conflict such as
    a serialization failure; the original error is ``__cause__``): ``VersionConflict.STALE``
    and ``VersionConflict.DATABASE``.
    """

    STALE: ClassVar[str] = "stale"
    DATABASE: ClassVar[str] = "database"

    def __init__(
        self,
        message: str,
        *,
        model: type[Any] | None = None,
        pk: Any = None,
        expected_version: str | None = None,
        reason: str = "stale",
    ) -> None:
        super().__init__(message)
        self.model = model
        self.pk = pk
        self.expected_version = expected_version
        self.reason = reason


class MalformedHeader(ValueError):
    """A conditional request header that does not follow its RFC 9110 grammar."""

    def __init__(self, header: str, value: str, problem: str, expected: str) -> None:
        super().__init__(
            gettext("Malformed %(header)s header: %(problem)s")
            % {"header": header, "problem": problem}
        )
        self.header = header
        self.value = value
        self.problem = problem
        self.expected = expected
