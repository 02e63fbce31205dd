"""Exceptions raised by the package.

`VersionConflict` is what a compare-and-swap write raises when the row no longer carries
the version the writer expected; every adapter turns it into 412 Precondition Failed.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from django.utils.translation import gettext

#: :attr:`VersionConflict.reason` values (also ``VersionConflict.STALE``/``.DATABASE``).
STALE: Final = "stale"
DATABASE: Final = "database"


class VersionConflict(Exception):
    """The stored version is no longer the one the write expected (or the row is gone).

    ``reason`` is :attr:`STALE` (``"stale"``: the compare-and-swap matched no row: another
    write changed or deleted it first) or :attr:`DATABASE` (``"database"``: the database
    reported a concurrency conflict such as a serialization failure; the original error is
    ``__cause__``). ``using`` is the database the write went to, where the current version
    is read for the 412 (rule 54); ``None`` when unknown (the router's write database).
    """

    STALE: ClassVar[str] = STALE
    DATABASE: ClassVar[str] = DATABASE

    def __init__(
        self,
        message: str,
        *,
        model: type[Any] | None = None,
        pk: Any = None,
        expected_version: str | None = None,
        reason: str = STALE,
        using: str | None = None,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.pk = pk
        self.expected_version = expected_version
        self.reason = reason
        self.using = using


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
