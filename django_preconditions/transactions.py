"""The request transaction: how every adapter runs a protected view under ``ATOMIC_REQUESTS``.

With ``ATOMIC_REQUESTS``, Django wraps the whole view in ``transaction.atomic()`` and commits
after the view has returned. Two things then escape a protected view:

- an error raised at COMMIT — PostgreSQL's serialization failure (``40001``) or deadlock
  (``40P01``) under ``REPEATABLE READ``/``SERIALIZABLE``, MariaDB's ``1020``/``1213``, SQLite's
  "database is locked" — reaches Django's handler after the view returned: a 500;
- the current version read for a 412 is read inside the request's transaction, which under
  ``REPEATABLE READ`` still sees its old snapshot: the 412 carries the very ETag the client
  sent (CONFORMANCE rule 55).

So the adapters (``require_preconditions``, ``PreconditionRequiredMixin``,
``PreconditionMixin``) take the transaction over. The API, three steps:

1. :func:`own_request_transaction` at decoration time (or in ``as_view()``) marks the view
   with Django's public ``transaction.non_atomic_requests`` for every configured database,
   so the handler does not wrap it;
2. :func:`request_transaction` around the view call opens ``transaction.atomic(using=alias)``
   for each database whose settings say ``ATOMIC_REQUESTS`` (read at request time, so tests can
   switch it). A refusal raised inside (a lost compare-and-swap, a database conflict) leaves
   the block and rolls back everything the view wrote (rule 51); a refusal the adapter turned
   into a response inside the block calls :meth:`RequestTransaction.roll_back` first; the
   COMMIT happens when the block exits, so its errors are raised where the adapter can catch
   them (rule 47);
3. after the block — outside the old snapshot, on ``router.db_for_write`` — the adapter reads
   the current version with :func:`current_version` and answers with
   ``Enforcer.answer_conflict()``: 412 with that version when it differs from the one the
   request was checked against, else 503 with ``Retry-After`` (nothing was applied,
   :func:`mark_retryable`).

When the database refused a write although the row did not change (a serialization failure
or a deadlock over other rows, frequent under ``SERIALIZABLE``), nothing tells the client its
copy is stale, so the adapter runs the whole request again — load, evaluate, view — up to
:data:`ATTEMPTS` times (:func:`run_with_retries`) before answering 503. A request is run again
only when its body can be replayed (it was not read, or was read through ``request.body``) and
everything it wrote was rolled back: without a transaction the view's earlier writes stand,
and the 503 says so instead (:class:`Aftermath`).

A view marked ``non_atomic_requests`` for a database before the adapter wraps it keeps its
choice: no transaction is opened for that database. Async views are left to Django, which
refuses ``ATOMIC_REQUESTS`` for them.

``PreconditionMiddleware`` does not mark views (a mark on the view function would hold for
every request, protected by a rule or not): its guard (``deferred.DeferredGuard``) refuses
before the view's first write, opens a transaction of its own only when the view writes
something before the row, answers after Django's or its own rollback (step 3), and runs the
request again with :func:`run_with_retries`.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, router, transaction
from django.http import HttpRequest, HttpResponseBase
from django.http.request import RawPostDataException

from ._compat import (
    non_atomic_aliases,
    non_atomic_aliases_added_later,
    request_body_replayable,
    set_non_atomic_aliases,
)

__all__ = [
    "ATTEMPTS",
    "RequestTransaction",
    "atomic_request_aliases",
    "current_version",
    "keep_body",
    "mark_retryable",
    "own_request_transaction",
    "request_transaction",
    "run_with_retries",
]

#: How many times a request refused by the database, with the row unchanged, is run in all.
ATTEMPTS: Final = 8
_RETRY_ATTRIBUTE = "preconditions_retry"

_V = TypeVar("_V", bound=Callable[..., Any])
_R = TypeVar("_R", bound=HttpResponseBase)
_OWNED_ATTRIBUTE = "preconditions_transaction_aliases"


def own_request_transaction(view: _V) -> _V:
    """Mark ``view`` so that Django's handler does not wrap it in ``ATOMIC_REQUESTS``'s
    transaction: :func:`request_transaction` opens it instead, around the view call.

    Remembers which databases the view had already opted out of (those stay without a
    transaction). Sync views only; an async view is returned unchanged.
    """
    view_class = getattr(view, "view_class", None)
    if iscoroutinefunction(view) or getattr(view_class, "view_is_async", False):
        return view
    opted_out = non_atomic_aliases(view)
    aliases = frozenset(connections)
    set_non_atomic_aliases(view, opted_out | aliases)
    setattr(view, _OWNED_ATTRIBUTE, tuple(sorted(aliases - opted_out)))
    return view


def atomic_request_aliases(view: Any = None) -> tuple[str, ...]:
    """The databases whose settings ask for ``ATOMIC_REQUESTS`` (now), minus those ``view``
    (a view marked by :func:`own_request_transaction`, or a class-based view's ``dispatch``)
    opted out of with ``transaction.non_atomic_requests``."""
    atomic = [
        alias
        for alias, settings_dict in connections.settings.items()
        if settings_dict.get("ATOMIC_REQUESTS")
    ]
    if not atomic:  # the common case: nothing to open, nothing more to read
        return ()
    owned = getattr(view, _OWNED_ATTRIBUTE, None)
    if owned is not None:
        later = non_atomic_aliases_added_later(view)  # non_atomic_requests above ours
        return tuple(alias for alias in atomic if alias in owned and alias not in later)
    opted_out = non_atomic_aliases(view)
    return tuple(alias for alias in atomic if alias not in opted_out)


class RequestTransaction:
    """The transactions opened for one request (one per ``ATOMIC_REQUESTS`` database), as a
    context manager: entering opens them, nested; leaving commits them, or rolls them back
    when an exception leaves the block. Without any ``ATOMIC_REQUESTS`` database (the common
    case) entering and leaving cost nothing."""

    __slots__ = ("_stack", "aliases")

    def __init__(self, aliases: tuple[str, ...]) -> None:
        self.aliases = aliases
        self._stack: contextlib.ExitStack | None = None

    def __enter__(self) -> RequestTransaction:
        if self.aliases:
            with contextlib.ExitStack() as stack:
                for alias in self.aliases:
                    stack.enter_context(transaction.atomic(using=alias))
                self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> bool:
        stack, self._stack = self._stack, None
        return stack is not None and bool(stack.__exit__(exc_type, exc, traceback))

    def roll_back(self) -> None:
        """Roll everything back when the block exits (for a refusal answered inside it)."""
        for alias in self.aliases:
            transaction.set_rollback(True, using=alias)


def request_transaction(view: Any = None) -> RequestTransaction:
    """``transaction.atomic(using=alias)`` for each ``ATOMIC_REQUESTS`` database, nested.

    Exceptions leave the block after the rollback; errors of the COMMIT itself are raised
    from the ``with`` statement, after the view returned.
    """
    return RequestTransaction(atomic_request_aliases(view))


class Aftermath(enum.Enum):
    """What remains of a request whose write the database refused (rule 47): what the 503
    may tell the client, and whether the adapter may run the request again."""

    #: Everything it wrote was rolled back (its transaction): it may simply run again.
    ROLLED_BACK = "rolled back"
    #: It ran without a transaction (autocommit): the row was not written, but what the view
    #: wrote before the refused statement stands — running it again would repeat that.
    WRITES_MAY_REMAIN = "writes may remain"
    #: Its own write of the row stands (autocommit); a later statement was refused. Never a
    #: 412: the change the client asked for was applied (rule 52).
    ROW_WRITTEN = "row written"


def aftermath(expectation: Any, *, rolled_back: bool) -> Aftermath:
    """The :class:`Aftermath` of a refused request, from the expectation of its row (``None``
    when it had none) and whether everything it wrote was rolled back (its transaction, and
    no write to a database outside it: :class:`OtherWrites`)."""
    if expectation is not None:
        expectation.settle()  # a write a rollback took back is not the row's
        if expectation.written:
            return Aftermath.ROW_WRITTEN
    return Aftermath.ROLLED_BACK if rolled_back else Aftermath.WRITES_MAY_REMAIN


#: The statements that write (what a rollback would have to take back).
WRITE_STATEMENTS: Final = ("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE")


class OtherWrites:
    """While a request runs in a transaction: whether a write of it stands outside
    ``covered`` (the databases whose writes the transaction rolls back), e.g. an audit row on
    a second database. Such writes stand after a refusal, so the request must not run again;
    with none, nothing of it was applied and it may (rule 47).

    Watches (``execute_wrapper``) the databases outside ``covered``, for a request that
    ``may_write`` (an unsafe method) and only when there is a transaction: a project whose
    databases are all covered pays nothing, and neither does one in autocommit — where
    nothing is rolled back, so the request is never run again (its earlier statements may
    have committed; the 503 says so).
    """

    __slots__ = ("_stack", "before_write", "covered", "may_write", "wrote")

    def __init__(
        self,
        covered: Collection[str],
        *,
        may_write: bool = True,
        before_write: Callable[[], None] | None = None,
    ) -> None:
        self.covered = covered
        self.may_write = may_write
        #: Called before each write outside ``covered`` (it may raise to refuse the write).
        self.before_write = before_write
        self.wrote = False
        self._stack: contextlib.ExitStack | None = None

    def rolled_back(self, alias: str | None) -> bool:
        """Whether nothing of the request stands after a refusal on the database ``alias``:
        for a request that may write, no write outside ``covered`` completed; a read (not
        watched) only when ``alias`` is covered."""
        if self.may_write:
            return bool(self.covered) and not self.wrote
        return (alias or DEFAULT_DB_ALIAS) in self.covered

    def __enter__(self) -> OtherWrites:
        databases = connections.settings
        if self.may_write and self.covered and len(databases) > len(self.covered):
            stack = contextlib.ExitStack()
            for alias in databases:
                if alias not in self.covered:
                    stack.enter_context(connections[alias].execute_wrapper(self._observe))
            self._stack = stack
        return self

    def __exit__(self, *exc_info: Any) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    def _observe(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        before_write = self.before_write
        writes = False
        if before_write is not None or not self.wrote:  # told apart only while it matters
            writes = sql.lstrip()[:7].upper().startswith(WRITE_STATEMENTS)
            if writes and before_write is not None:
                before_write()
        result = execute(sql, params, many, context)  # a statement that failed wrote nothing
        if writes:
            self.wrote = True
        return result


@dataclass(frozen=True)
class CurrentVersion:
    token: str
    last_modified: datetime.datetime | None


def current_version(
    model: type[models.Model] | None, pk: Any, using: str | None = None
) -> CurrentVersion | None:
    """The latest committed version of a row, read on the database it is written to
    (``using``, by default ``router.db_for_write``; never a replica: rule 54); ``None`` when
    the row is gone or cannot be read. Call it outside the request's transaction (rule 55)."""
    from .models import VersionedModel, read_version

    if model is None or not issubclass(model, VersionedModel) or pk is None:
        return None
    alias = using or router.db_for_write(model)
    try:
        row = read_version(model._base_manager.using(alias).filter(pk=pk))
    except DatabaseError:  # e.g. called inside a transaction the database aborted
        return None
    return None if row is None else CurrentVersion(*row)


def mark_retryable(response: _R) -> _R:
    """Mark a 503 answering a database refusal of an unchanged row: running the request
    again may succeed."""
    setattr(response, _RETRY_ATTRIBUTE, True)
    return response


def keep_body(request: HttpRequest) -> None:
    """Read the body through ``request.body`` (which caches it) so that a retry can replay
    it — unless it is a multipart upload or larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``,
    which Django streams."""
    if request.content_type == "multipart/form-data":
        return
    limit: int | None = getattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", None)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if limit is not None and length > limit:
        return
    try:  # not contextlib.suppress(): this runs on every protected write
        request.body  # noqa: B018 - cached by Django for every later reader
    except RawPostDataException:
        pass


def run_with_retries(request: HttpRequest, attempt: Callable[[], _R]) -> _R:
    """``attempt()`` (one complete run of the request: load, evaluate, view), again while it
    answers a retryable 503 and the body can be replayed, at most :data:`ATTEMPTS` times,
    with a short random pause in between."""
    for number in range(1, ATTEMPTS + 1):
        response = attempt()
        if (
            not getattr(response, _RETRY_ATTRIBUTE, False)
            or number == ATTEMPTS
            or not request_body_replayable(request)
        ):
            return response
        time.sleep(random.uniform(0, min(0.5, 0.01 * 2**number)))
    raise AssertionError("unreachable")  # pragma: no cover
