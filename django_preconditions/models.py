"""Versioned models: a version token served as a strong ETag, and writes that are one
compare-and-swap statement.

A :class:`VersionedModel` gets two fields, ``version_token`` (random, opaque, new on every
write) and ``last_modified`` (which a model may remove with ``last_modified = None``: then
the token alone names the version, and no ``Last-Modified`` is served). Saving or deleting with an *expected* version — given
explicitly (``save(expected_version=…)``) or by a protected view for the object it serves
(:func:`expect_version`) — issues a single ``UPDATE … WHERE pk = … AND version_token = …``
(or ``DELETE …``); no row matched means somebody else wrote first, and
:class:`~django_preconditions.exceptions.VersionConflict` is raised. There is no SELECT
before the write and no extra data statement compared with Django's plain
``save()``/``delete()``; a save of several statements runs in a savepoint so that a refused
one leaves nothing behind. A create-only save (:func:`expect_creation`) is an INSERT that
fails on conflict.
"""

from __future__ import annotations

import binascii
import contextlib
import dataclasses
import datetime
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    connections,
    models,
    transaction,
)
from django.db.models.signals import class_prepared, post_save, pre_save
from django.utils import timezone
from django.utils.http import http_date
from django.utils.translation import gettext_lazy as _

from ._compat import (
    add_exact_filter,
    bump_versions_of_delete_updates,
    can_fast_delete,
    concrete_parents,
    is_zero_row_update,
    load_with_rows,
    on_commit_pending,
    reset_base_manager,
    write_alias,
)
from .conf import split_comma_list
from .dbconflicts import is_database_conflict
from .defaults import ENFORCE, REPORT
from .duplicates import duplicates_key
from .exceptions import VersionConflict
from .headers import EntityTag, format_entity_tag

__all__ = [
    "VersionExpectation",
    "VersionedManager",
    "VersionedModel",
    "VersionedQuerySet",
    "expect_creation",
    "expect_version",
    "keeps_modified",
    "load_version_with_row",
    "new_version_token",
    "observe_loads",
    "pop_expectation",
    "push_expectation",
    "register_expectation",
    "version_fields",
    "version_root",
    "with_version_fields",
]

VERSION_FIELD = "version_token"
MODIFIED_FIELD = "last_modified"
BASE_MANAGER_NAME = "versioned_base_objects"
#: Seconds after the end of a write's second from which that second is served as
#: ``Last-Modified`` (see :func:`http_timestamp`): a write is stamped when ``save()`` starts
#: and becomes visible at COMMIT, usually milliseconds later.
SETTLED_AFTER = 0.5

_M = TypeVar("_M", bound="VersionedModel")
_E = TypeVar("_E", bound="VersionExpectation")
_Q = TypeVar("_Q", bound=models.QuerySet[Any])


_URL_SAFE: Final = bytes.maketrans(b"+/", b"-_")


def new_version_token() -> str:
    """A fresh, opaque version token: 128 random bits, URL-safe, valid inside an ETag.

    Random tokens reveal neither the primary key nor the number of edits (rule 43) and never
    repeat for a resource, also across delete and re-create (rule 42). The same 22 characters
    as ``secrets.token_urlsafe(16)``, built with C calls only (one runs on every save).
    """
    encoded = binascii.b2a_base64(os.urandom(16), newline=False)
    return encoded[:22].translate(_URL_SAFE).decode("ascii")


def stored_timestamp(value: datetime.datetime | None) -> int | None:
    """Whole seconds since the epoch of a stored ``last_modified``: the stored time truncated
    to the second (rule 22). Preconditions are evaluated against it: ``If-Unmodified-Since``
    passes when it is not earlier than this second, ``If-Modified-Since`` answers 304 when it
    is not earlier either."""
    if value is None:
        return None
    if value.utcoffset() is None:  # naive (timezone.is_naive, without the call)
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return int(value.timestamp())


def http_timestamp(value: datetime.datetime | None, *, now: float | None = None) -> int | None:
    """Whole seconds since the epoch, as served in ``Last-Modified`` (rules 22, 24, 39).

    ``last_modified`` keeps the exact time of the write, so two writes can share a second.
    A client that read inside a write's second cannot know whether a later write of the same
    second will follow; were it served that second, its ``If-Unmodified-Since`` would pass
    after such a write (a lost update). So the stored second is served only once the clock
    is past it by :data:`SETTLED_AFTER`; until then the second *before* it is served, which
    can only make a precondition fail (a spurious 412 for about a second, after which a
    re-read gets the real second), never pass wrongly. The margin covers a write stamped
    shortly before its transaction commits. Never later than now (rule 39).
    """
    return served_timestamp(stored_timestamp(value), now=now)


def served_timestamp(stored: int | None, *, now: float | None = None) -> int | None:
    """:func:`http_timestamp` of a stored second already computed by :func:`stored_timestamp`
    (adapters need both: one conversion of the datetime, not two)."""
    if stored is None:
        return None
    current = time.time() if now is None else now
    served = stored if current >= stored + 1 + SETTLED_AFTER else stored - 1
    return min(served, int(current))


def keeps_modified(model: type[models.Model]) -> bool:
    """Whether ``model`` stores ``last_modified``: a model declared with
    ``last_modified = None`` (Django's way of removing a field inherited from an abstract
    model) is versioned by its token alone, and serves no ``Last-Modified`` (rule 25).
    Looked up once per class."""
    known = _keeps_modified.get(model)
    if known is None:
        try:
            field = model._meta.get_field(MODIFIED_FIELD)
        except FieldDoesNotExist:
            known = False
        else:
            known = bool(getattr(field, "concrete", False))
        _keeps_modified[model] = known
    return known


_keeps_modified: dict[type[models.Model], bool] = {}


def version_fields(model: type[models.Model]) -> tuple[str, ...]:
    """The columns a write of ``model`` always changes: the token, and ``last_modified``
    unless the model removed it."""
    return (VERSION_FIELD, MODIFIED_FIELD) if keeps_modified(model) else (VERSION_FIELD,)


def with_version_fields(queryset: _Q) -> _Q:
    """``queryset`` loading the version fields of its rows in the statement that loads the
    rows, whatever the view's ``only()``/``defer()`` left out: the version that labels a row
    (its ``ETag``, the expected version of its write) is the one of the data read with it
    (rules 39, 44), and costs no query of its own. Other querysets are returned as they are."""
    model = queryset.model
    if not issubclass(model, VersionedModel):
        return queryset
    return load_with_rows(queryset, version_fields(model))  # type: ignore[return-value]


def load_version_with_row(instance: models.Model) -> None:
    """Make sure ``instance`` holds its version fields as read with the rest of its fields:
    an instance loaded with the version deferred (a ``get_object()`` of the project's own
    that ignores the adapter's queryset) would read it later, by a query of its own, perhaps
    after another request's write — a newer version labelling older data (rules 39, 44). Its
    loaded fields and the version are then read again in one statement. Costs nothing for an
    instance that has them."""
    loaded = instance.__dict__
    model = type(instance)
    if VERSION_FIELD in loaded and (MODIFIED_FIELD in loaded or not keeps_modified(model)):
        return
    deferred = instance.get_deferred_fields()
    fields = [
        field.attname for field in model._meta.concrete_fields if field.attname not in deferred
    ]
    instance.refresh_from_db(fields=[*fields, *version_fields(model)])


def read_version(
    rows: models.QuerySet[Any],
) -> tuple[str, datetime.datetime | None] | None:
    """The token and ``last_modified`` (``None`` for a token-only model) of the first of
    ``rows``, read by one query of those columns only; ``None`` when there is no row."""
    row = rows.values_list(*version_fields(rows.model)).first()
    if row is None:
        return None
    return str(row[0]), row[1] if len(row) > 1 else None


def new_version(model: type[models.Model]) -> dict[str, Any]:
    """The values of :func:`version_fields` for a write made now: a new token, and the time
    of the write (exact; never derived from a copy in memory)."""
    if keeps_modified(model):
        return {VERSION_FIELD: new_version_token(), MODIFIED_FIELD: timezone.now()}
    return {VERSION_FIELD: new_version_token()}


# --- Expected versions -------------------------------------------------------------------


def version_root(model: type[models.Model]) -> type[models.Model]:
    """The concrete model whose table holds ``version_token``: for a proxy its concrete
    model, under multi-table inheritance the ancestor that inherits :class:`VersionedModel`.
    One row has one root, whatever class it is read, saved or deleted through (rule 53).

    Fixed once the class is prepared, so it is looked up once per class (every protected
    save asks)."""
    root = _roots.get(model)
    if root is None:
        try:
            owner = model._meta.get_field(VERSION_FIELD).model
        except FieldDoesNotExist:
            owner = model
        root = owner._meta.concrete_model or owner
        if not model._meta.abstract:
            _roots[model] = root
    return root


_roots: dict[type[models.Model], type[models.Model]] = {}


def _key_field(root: type[models.Model], field: str) -> models.Field[Any, Any]:
    key = root._meta.pk if field == "pk" else root._meta.get_field(field)
    assert isinstance(key, models.Field)
    return key


_MISSING = object()


def _key_value(key: models.Field[Any, Any], value: Any) -> Any:
    """``value`` as the field's Python value, so that ``"7"`` from a URL matches ``7``."""
    try:
        return key.to_python(value)
    except (ValidationError, TypeError, ValueError):
        return value


@dataclass
class VersionExpectation:
    """The version a write to one row must still find, and what happened to it.

    Protected views register one for the object they serve (:func:`expect_version`); any
    ``save()``/``delete()`` of that row during the request then compare-and-swaps against it
    and records the outcome here, so the adapter can send the new ``ETag``. The row is named
    by its :func:`version_root` model, its primary key (or, for a create-only expectation,
    another unique ``field``) and the database alias it is written to. ``token`` ``None``
    means the row must not exist yet: a save is then an INSERT that fails on conflict (rule
    50). ``using`` ``None`` binds the expectation to the database of the row's first write
    (wherever ``save()`` or ``delete()`` sends it, as Django's router decides with the
    instance as hint): the row is checked where it is written (rule 54), also when it was
    loaded from a database other than the router's default for the model.
    """

    model: type[models.Model]
    pk: Any
    token: str | None
    using: str | None = None
    field: str = "pk"
    written: bool = False
    deleted: bool = False
    last_modified: datetime.datetime | None = None
    #: The writes recorded, newest last, each with what it replaced (see :meth:`settle`).
    _writes: list[tuple[_State, _WriteMark, _State]] = dataclasses.field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.root = version_root(self.model)
        self.key = _key_field(self.root if self.field == "pk" else self.model, self.field)
        self.value = _key_value(self.key, self.pk)

    def matches(self, instance: models.Model, using: str | None = None) -> bool:
        """Whether ``instance`` is this row (any proxy, parent or child class of it) on the
        database ``using`` (by default where ``instance`` would be saved). Asked just before
        a write of ``instance``: an expectation not yet bound to a database is bound to
        ``using`` when the row matches."""
        if version_root(type(instance)) is not self.root:
            return False
        if using is None:
            using = write_alias(type(instance), instance=instance)
        if self.using is not None and using != self.using:
            return False
        value = getattr(instance, self.key.attname, _MISSING)
        if value is _MISSING:
            return False
        # The same Python value (the common case) needs no conversion.
        if value == self.value or _key_value(self.key, value) == self.value:
            return self.written_on(using)
        return False

    def written_on(self, using: str) -> bool:
        """Whether a write of the row to the database ``using`` is this expectation's; the
        first write binds one that names no database."""
        if self.using is None:
            self.using = using
        return self.using == using

    @property
    def etag(self) -> str:
        assert self.token is not None, "no version yet: the row was expected to be absent"
        return format_entity_tag(self.token)

    def _state(self) -> _State:
        return (self.token, self.last_modified, self.written, self.deleted)

    def _set_state(self, state: _State) -> None:
        self.token, self.last_modified, self.written, self.deleted = state

    def _record(
        self, token: str | None, modified: datetime.datetime | None, *, deleted: bool = False
    ) -> _State:
        """Follow the write (or, with ``deleted``, the delete) this request made (rule 52);
        returns what to restore if it is refused after all. A write inside a transaction is
        kept only while it stands: :meth:`settle` forgets it once a savepoint or transaction
        around it was rolled back."""
        previous, after = self._state(), (token, modified, True, deleted)
        self._set_state(after)
        # The connection of this thread (an async view writes on another thread than the
        # one that answers).
        mark = _WriteMark(transaction.get_connection(self.using or DEFAULT_DB_ALIAS))
        if mark.connection.in_atomic_block:
            mark.connection.on_commit(mark)
        else:  # autocommit (or manual transaction management): it stands
            mark.committed = True
        self._writes.append((previous, mark, after))
        return previous

    def _restore(self, previous: _State) -> None:
        self._set_state(previous)
        if self._writes and self._writes[-1][0] is previous:
            self._writes.pop()

    def settle(self) -> None:
        """Forget the writes a rolled-back savepoint or transaction took back (the view's
        own ``atomic()`` block, ``set_rollback(True)``): the row has their previous version
        again, which the response's ``ETag`` and the request's next compare-and-swap must
        name. Rollbacks take back the newest writes first.

        A write whose mark neither ran nor waits was rolled back — or committed while an
        earlier ``on_commit`` callback raised (Django then runs none of the later ones): the
        row's stored version tells them apart, read once in that case only."""
        writes = self._writes
        if not writes or writes[-1][1].stands():
            return
        stored = self._stored_version(writes[-1][1].connection)
        while writes:
            previous, mark, after = writes[-1]
            if mark.stands() or (stored is not _MISSING and _is_stored(after, stored)):
                return
            writes.pop()
            self._set_state(previous)

    def _stored_version(self, connection: Any) -> Any:
        """The row's stored token on ``connection``'s database (``None``: no row), or
        ``_MISSING`` when it cannot be read here (e.g. an aborted transaction, or an event
        loop, where no query may run)."""
        try:
            if self.field == "pk":
                owner, lookup = self.root, {"pk": self.pk}  # an adapter may name it late
            else:
                owner, lookup = self.key.model, {self.key.attname: self.value}
            if None in lookup.values():
                return _MISSING
            rows = owner._base_manager.using(connection.alias).filter(**lookup)
            return rows.values_list(VERSION_FIELD, flat=True).first()
        except Exception:  # any failure leaves the marks' verdict
            return _MISSING


_State = tuple[str | None, datetime.datetime | None, bool, bool]  # token, time, written, deleted


def _is_stored(state: _State, stored: str | None) -> bool:
    """Whether the row as stored is what the write that led to ``state`` left."""
    return stored is None if state[3] else stored == state[0]


class _WriteMark:
    """Registered with ``transaction.on_commit()`` when a write is recorded: committed, still
    pending in a live transaction, or dropped with a rolled-back one."""

    __slots__ = ("committed", "connection")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.committed = False

    def __call__(self) -> None:
        self.committed = True

    def stands(self) -> bool:
        return self.committed or on_commit_pending(self.connection, self)


_expectations: ContextVar[tuple[VersionExpectation, ...]] = ContextVar(
    "django_preconditions_expectations", default=()
)


@contextlib.contextmanager
def expect_version(
    model: type[models.Model], pk: Any, token: str, *, using: str | None = None
) -> Iterator[VersionExpectation]:
    """Within the block, saving or deleting the row ``model``/``pk`` must find ``token``.

    Works for any instance of that row, also one the view fetched again itself, or one of a
    proxy, parent or child class (rule 53); sync and async code alike (the expectation lives
    in a context variable). ``using`` is the database the row is written to (by default the
    database of its first write in the block). Further saves of the row in the block follow the
    version the block itself wrote (rule 52).
    """
    expectation = push_expectation(model, pk, token, using=using)
    try:
        yield expectation
    finally:
        pop_expectation(expectation)


@contextlib.contextmanager
def expect_creation(
    model: type[models.Model], value: Any, *, field: str = "pk", using: str | None = None
) -> Iterator[VersionExpectation]:
    """Within the block, the row ``model``/``value`` must not exist yet (``If-None-Match: *``,
    rule 50): saving it is an INSERT, never Django's UPDATE-then-INSERT, and a row that
    exists by then (a concurrent create) raises :class:`VersionConflict`, never
    ``IntegrityError``. ``field`` names a unique field other than the primary key. After
    the INSERT the expectation follows the new version like :func:`expect_version`.
    """
    expectation = register_expectation(
        VersionExpectation(model=model, pk=value, token=None, using=using, field=field)
    )
    try:
        yield expectation
    finally:
        pop_expectation(expectation)


def push_expectation(
    model: type[models.Model], pk: Any, token: str, *, using: str | None = None
) -> VersionExpectation:
    """Start expecting ``token`` for the row, until :func:`pop_expectation`.

    For adapters whose "before" and "after" run in different calls (the middleware's
    ``process_view`` and ``__call__``); elsewhere :func:`expect_version` is simpler.
    """
    return register_expectation(VersionExpectation(model=model, pk=pk, token=token, using=using))


def push_instance_expectation(instance: models.Model, token: str) -> VersionExpectation:
    """:func:`push_expectation` for an instance the adapter loaded: its row, on the database
    its ``save()`` goes to (where it was loaded from, or the router's choice with the instance
    as hint: rule 54)."""
    model = type(instance)
    return push_expectation(model, instance.pk, token, using=write_alias(model, instance=instance))


def register_expectation(expectation: _E) -> _E:
    """Register an expectation object until :func:`pop_expectation`: for adapters that
    subclass :class:`VersionExpectation` (e.g. the middleware's, which decides its ``token``
    only when the view writes the row). ``save()``/``delete()`` consult ``matches()`` and
    read ``token`` just before their compare-and-swap."""
    _expectations.set((*_expectations.get(), expectation))
    return expectation


def pop_expectation(expectation: VersionExpectation) -> None:
    """Stop expecting; a no-op when it is not (or no longer) registered in this context."""
    registered = _expectations.get()
    if len(registered) == 1 and registered[0] is expectation:  # the usual case
        _expectations.set(())
        return
    _expectations.set(tuple(item for item in registered if item is not expectation))


def _expectation_for(instance: models.Model, using: str | None) -> VersionExpectation | None:
    expectations = _expectations.get()
    if not expectations:
        return None
    if using is None:
        using = write_alias(type(instance), instance=instance)
    return _matching(expectations, instance, using)


def _matching(
    expectations: tuple[VersionExpectation, ...], instance: models.Model, using: str
) -> VersionExpectation | None:
    """The innermost expectation for ``instance`` on the database ``using``, if any."""
    for expectation in reversed(expectations):
        if expectation.matches(instance, using):
            if expectation._writes:
                expectation.settle()
            return expectation
    return None


# --- Instances loaded while an adapter watches -----------------------------------------------

#: Called with every :class:`VersionedModel` instance loaded from the database in this context
#: (``from_db``), while an adapter that does not load the row itself watches (the middleware).
_load_observer: ContextVar[Callable[[VersionedModel], None] | None] = ContextVar(
    "django_preconditions_load_observer", default=None
)


def observe_loads(
    observer: Callable[[VersionedModel], None] | None,
) -> Callable[[VersionedModel], None] | None:
    """Show every versioned instance loaded from the database from now on to ``observer``
    (``None`` stops); returns the observer it replaces, to restore when done.

    The ``from_db`` hook that shows them is installed the first time anyone watches: until
    then (a project without the middleware) loading a row costs nothing more than Django's
    ``from_db``; afterwards, one context-variable read per loaded instance when nobody
    watches."""
    if observer is not None and "from_db" not in VersionedModel.__dict__:
        # A class attribute, set once (before the observer: loads after this see the hook).
        setattr(VersionedModel, "from_db", classmethod(_observed_from_db))  # noqa: B010
    previous = _load_observer.get()
    _load_observer.set(observer)
    return previous


def _observed_from_db(
    cls: type[VersionedModel],
    /,
    db: str | None,
    field_names: Collection[str],
    values: Collection[Any],
    **kwargs: Any,
) -> VersionedModel:
    """``VersionedModel.from_db`` once :func:`observe_loads` was called: Django's ``from_db``
    (its keyword arguments passed on, e.g. 6.1's ``fetch_mode``), showing the instance to the
    observer of :func:`observe_loads` (the middleware's guard) when one watches."""
    instance = super(VersionedModel, cls).from_db(db, field_names, values, **kwargs)
    observer = _load_observer.get()
    if observer is not None:
        observer(instance)
    return instance


# --- The compare-and-swap hook --------------------------------------------------------------


class _SwapTarget:
    """The row a compare-and-swap save is about, and whether its UPDATE was issued."""

    __slots__ = ("applied", "model", "on_applied", "pk", "token")

    def __init__(self, model: type[models.Model], pk: Any, token: str) -> None:
        self.model = model
        self.pk = pk
        self.token = token
        self.applied = False
        # Called when the compare-and-swap UPDATE is issued (no user code runs in between).
        self.on_applied: Callable[[], None] | None = None


_swap_target: ContextVar[_SwapTarget | None] = ContextVar(
    "django_preconditions_swap_target", default=None
)


def follow_in_flight_save(root: type[models.Model], pk: Any, token: str) -> None:
    """The request wrote the row ``root``/``pk`` outside ``save()`` (a relation change, a
    plain parent's write) while a compare-and-swap save of it has not issued its UPDATE yet
    (a ``pre_save`` receiver): that UPDATE must expect the version just written, which the
    request itself produced (rule 52)."""
    target = _swap_target.get()
    if target is not None and not target.applied and target.model is root and target.pk == pk:
        target.token = token


# --- QuerySet and manager --------------------------------------------------------------------


def _new_versions(
    model: type[models.Model], objs: Iterable[_M], fields: Iterable[str]
) -> tuple[list[_M], list[str]]:
    """The objects of a bulk write, each given a new version token and ``last_modified`` (the
    time of the write, never derived from the copy in memory), and the fields to write with
    the version fields added."""
    objs = list(objs)
    for obj in objs:
        obj.version_token = new_version_token()
    if keeps_modified(model):
        now = timezone.now()
        for obj in objs:
            obj.last_modified = now
    fields = list(fields)
    return objs, [*fields, *(name for name in version_fields(model) if name not in fields)]


class VersionedQuerySet(models.QuerySet[_M]):
    """A queryset whose bulk writes change the version of every row they touch (rule 46)."""

    def update(self, **kwargs: Any) -> int:
        """``QuerySet.update()`` that also gives every updated row a new version token and
        ``last_modified`` (the time of the write), so clients holding the old ETag get 412."""
        for name, value in new_version(self.model).items():
            kwargs.setdefault(name, value)
        return super().update(**kwargs)

    update.alters_data = True  # type: ignore[attr-defined]

    def bump_versions(self) -> int:
        """Give every row of the queryset a new version, e.g. after writing to the table with
        raw SQL or ``update_without_bump()``. Returns the number of rows."""
        return self.update()

    bump_versions.alters_data = True  # type: ignore[attr-defined]

    def update_without_bump(self, **kwargs: Any) -> int:
        """Django's plain ``update()``: versions stay as they are. Clients holding an ETag will
        not notice the change — use only for fields that are not part of the representation."""
        return super().update(**kwargs)

    update_without_bump.alters_data = True  # type: ignore[attr-defined]

    def bulk_update(
        self, objs: Iterable[_M], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        """``bulk_update()`` that gives each object a new version token and ``last_modified``
        (the time of the write, never derived from the possibly stale copy in memory)."""
        objs, fields = _new_versions(self.model, objs, fields)
        return super().bulk_update(objs, fields, batch_size=batch_size)

    bulk_update.alters_data = True  # type: ignore[attr-defined]

    def bulk_create(
        self,
        objs: Iterable[_M],
        batch_size: int | None = None,
        ignore_conflicts: bool = False,
        update_conflicts: bool = False,
        update_fields: Collection[str] | None = None,
        unique_fields: Collection[str] | None = None,
    ) -> list[_M]:
        """``bulk_create()``; with ``update_conflicts`` the rows it updates get a new version
        token and ``last_modified`` too (rule 46): both are added to ``update_fields``."""
        if update_conflicts and update_fields:
            objs, update_fields = _new_versions(self.model, objs, update_fields)
        return super().bulk_create(
            objs,
            batch_size=batch_size,
            ignore_conflicts=ignore_conflicts,
            update_conflicts=update_conflicts,
            update_fields=update_fields,
            unique_fields=unique_fields,
        )

    bulk_create.alters_data = True  # type: ignore[attr-defined]


class _CompareAndSwapQuerySet(VersionedQuerySet[Any]):  # type: ignore[override]  # stubs: as_manager()
    """The base-manager queryset while a compare-and-swap save runs.

    ``Model.save()`` updates an existing row with ``_base_manager.filter(pk=…)._update(…)``.
    That filter of the table holding the version is marked here, and its UPDATE — only its
    UPDATE — gains ``version_token = <expected>``, so the UPDATE itself is the
    compare-and-swap. Other queries of the same row during the save are untouched: reading a
    deferred field (``refresh_from_db()``, also the same ``filter(pk=…)``) must not take the
    condition away from the UPDATE that follows, where a concurrent write would then be
    overwritten. Any later query (e.g. in a ``post_save`` receiver) is untouched too.
    ``tests/test_compat.py`` pins this Django behaviour.
    """

    _preconditions_swap: _SwapTarget | None = None

    def filter(self, *args: Any, **kwargs: Any) -> Any:
        queryset = super().filter(*args, **kwargs)
        target = _swap_target.get()
        if (
            target is not None
            and not target.applied
            and not args
            and len(kwargs) == 1
            and "pk" in kwargs
            and self.model is target.model
            and kwargs["pk"] == target.pk
        ):
            queryset._preconditions_swap = target  # the row save() may UPDATE next
        return queryset

    def _update(self, *args: Any, **kwargs: Any) -> Any:
        target = self._preconditions_swap
        if target is not None and not target.applied and target is _swap_target.get():
            target.applied = True
            if target.on_applied is not None:
                target.on_applied()
            add_exact_filter(self, VERSION_FIELD, target.token)  # filter(version_token=…)
        return super()._update(*args, **kwargs)  # type: ignore[misc]


class VersionedBaseManager(models.Manager[Any]):
    """Base manager of versioned models: querysets whose ``update()`` changes the version, as
    the default manager's; during a compare-and-swap save, the :class:`_CompareAndSwapQuerySet`."""

    def get_queryset(self) -> models.QuerySet[Any]:
        target = _swap_target.get()
        if target is not None and not target.applied and self.model is target.model:
            return _CompareAndSwapQuerySet(self.model, using=self._db)
        # Django's own bulk writes through the base manager (``on_delete=SET_NULL``,
        # ``SET_DEFAULT``, ``SET()``) change the version too (rule 46).
        return VersionedQuerySet(self.model, using=self._db)


class VersionedManager(models.Manager[_M]):
    """The default manager of :class:`VersionedModel` (``objects``)."""

    def get_queryset(self) -> VersionedQuerySet[_M]:
        return VersionedQuerySet(self.model, using=self._db)

    def bump_versions(self) -> int:
        return self.get_queryset().bump_versions()

    def update_without_bump(self, **kwargs: Any) -> int:
        return self.get_queryset().update_without_bump(**kwargs)


# --- The model -----------------------------------------------------------------------------


class VersionedModel(models.Model):
    """Abstract base for models whose writes must prove which version they edit.

    Adds ``version_token`` and ``last_modified``; exposes :attr:`etag` (strong, quoted) and
    :attr:`last_modified`. ``save()``/``delete()`` accept ``expected_version=`` and are then a
    single compare-and-swap statement raising :class:`VersionConflict` on a mismatch.
    """

    version_token = models.CharField(
        max_length=64,
        default=new_version_token,
        editable=False,
        help_text=_("Opaque token naming the stored state; new on every write. Served as ETag."),
    )
    last_modified = models.DateTimeField(
        default=timezone.now,
        editable=False,
        help_text=_("When the row was last written (served as Last-Modified)."),
    )

    objects: ClassVar[VersionedManager[Any]] = VersionedManager()
    versioned_base_objects = VersionedBaseManager()

    class Meta:
        abstract = True
        base_manager_name = BASE_MANAGER_NAME

    # -- writes --

    def save(self, *args: Any, expected_version: str | None = None, **kwargs: Any) -> None:
        """Save with a new version token and ``last_modified`` (the time of the write).

        With ``expected_version`` (or inside :func:`expect_version` for this row, through any
        class of it) the UPDATE only applies if the stored token is still the expected one,
        and a missing row is never re-inserted; otherwise :class:`VersionConflict` is raised
        and nothing of the save remains (rule 51). Inside :func:`expect_creation` the save is
        an INSERT that raises :class:`VersionConflict` when the row exists (rule 50).
        ``update_fields`` always gains the two version fields.
        """
        if expected_version is not None and self._state.adding and self.pk is None:
            raise ValueError(
                "save(expected_version=…) needs an existing row; this instance has not been "
                "saved yet. Omit expected_version to create it."
            )
        expectation = None
        alias: str | None = kwargs.get("using")
        expectations = _expectations.get()  # empty outside protected views: no lookup
        if expectations:
            # Also with an explicit version (a form's hidden field): the compare-and-swap
            # uses it, and the request follows the version it writes, so that later saves of
            # the row and the response name it (rules 41, 52).
            if alias is None:
                alias = write_alias(type(self), instance=self)
            expectation = _matching(expectations, self, alias)
        if expectation is not None and (expectation.token is None or expectation.deleted):
            if expected_version is None:
                # Absent, or deleted by this request (a "replace": delete, then save under the
                # same key): an INSERT, which fails if another request created the row since.
                self._create_only_save(expectation, args, kwargs)
                return
            expectation = None  # the row was expected absent: the explicit version decides
        if expectation is not None and expected_version is None:
            if kwargs.get("force_insert"):
                expectation = None  # an INSERT never overwrites: it fails if the row exists
            else:
                expected_version = expectation.token
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            if not update_fields:  # Django saves nothing for an empty list; neither do we
                super().save(*args, **kwargs)
                return
            kwargs["update_fields"] = {*update_fields, *version_fields(type(self))}
        previous = (self.version_token, self.last_modified)
        self._new_version()
        try:
            if expected_version is None:
                super().save(*args, **kwargs)
            else:
                if alias is None:
                    alias = write_alias(type(self), instance=self)
                self._compare_and_swap_save(expected_version, expectation, alias, args, kwargs)
        except BaseException:
            self._restore_version(previous)
            raise

    save.alters_data = True  # type: ignore[attr-defined]

    def _new_version(self) -> None:
        """A new token and, unless the model removed it, ``last_modified``: the time of the
        write (exact; never derived from the copy in memory)."""
        self.version_token = new_version_token()
        if keeps_modified(type(self)):
            self.last_modified = timezone.now()

    def _restore_version(self, previous: tuple[str, Any]) -> None:
        self.version_token = previous[0]
        if keeps_modified(type(self)):
            self.last_modified = previous[1]

    def _write_scope(self, alias: str, *, recover: bool = False) -> Any:
        """Where a protected write runs, so that a refused one leaves no trace (rule 51).

        A save that issues more than one statement — parent tables under multi-table
        inheritance, ``pre_save``/``post_save`` receivers (which run inside ``save()``) —
        runs in ``atomic()``: a savepoint inside a transaction, a transaction otherwise; a
        refusal rolls all of it back and the enclosing transaction stays usable. ``recover``
        asks for that also for a lone statement that can fail inside a transaction (an
        INSERT). A lone compare-and-swap UPDATE needs neither: matching no row changes
        nothing, so it costs no extra statement (see :class:`_LoneStatement`).
        """
        origin = type(self)
        if (
            self._meta.parents
            # has_listeners() sorts out the receivers of each sender; with none connected at
            # all (the list is empty), there is nothing to sort out.
            or (pre_save.receivers and pre_save.has_listeners(origin))
            or (post_save.receivers and post_save.has_listeners(origin))
            or (recover and connections[alias].in_atomic_block)
        ):
            return transaction.atomic(using=alias)
        return _LoneStatement(alias)

    def _compare_and_swap_save(
        self,
        expected_version: str,
        expectation: VersionExpectation | None,
        alias: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        if not kwargs.get("update_fields"):
            # A vanished row must raise, not be re-inserted (Django's fallback to INSERT).
            # force_update does not reach the parent tables of multi-table inheritance, where
            # the version lives; an explicit update_fields does.
            if self._meta.parents:
                kwargs["update_fields"] = {
                    field.name for field in self._meta.concrete_fields if not field.primary_key
                }
            else:
                kwargs["force_update"] = True
        root = version_root(type(self))
        target = _SwapTarget(root, getattr(self, root._meta.pk.attname), expected_version)
        # From the UPDATE on, receivers of post_save (inside super().save()) and later saves
        # in the request follow the version this save writes (rule 52); undone below if the
        # write is refused.
        recorded: list[_State] = []
        if expectation is not None:
            target.on_applied = lambda: recorded.append(
                expectation._record(self.version_token, self.last_modified)
            )
        reset = _swap_target.set(target)
        try:
            with self._write_scope(alias):
                super().save(*args, **kwargs)
        except BaseException as exc:
            if expectation is not None and recorded:
                expectation._restore(recorded[0])
            if isinstance(exc, DatabaseError):
                if target.applied and is_zero_row_update(exc):
                    raise self._conflict(expected_version, using=alias) from None
                if is_database_conflict(exc):
                    raise self._conflict(
                        expected_version, reason=VersionConflict.DATABASE, using=alias
                    ) from exc
            raise
        finally:
            _swap_target.reset(reset)
        if not target.applied:
            raise RuntimeError(
                "django-preconditions could not make this save a compare-and-swap: Django did "
                "not update the row through the model's base manager. Check that the model's "
                f"Meta.base_manager_name is {BASE_MANAGER_NAME!r} (system check "
                "preconditions.E020) and report the Django version if it is."
            )

    def _create_only_save(
        self, expectation: VersionExpectation, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Create the row the request expects to be absent: an INSERT, never Django's
        UPDATE-then-INSERT; a duplicate key (a concurrent create) is a conflict (rule 50).
        After the request's own delete of the row, also a copy loaded before it (Django
        would re-insert it too)."""
        if (
            (not self._state.adding and not expectation.deleted)
            or kwargs.get("force_update")
            or kwargs.get("update_fields")
        ):
            raise self._conflict(None)  # an UPDATE: the row exists after all
        if not kwargs.get("force_insert"):
            kwargs["force_insert"] = True
        alias = kwargs.get("using") or write_alias(type(self), instance=self)
        previous = (self.version_token, self.last_modified)
        self._new_version()
        recorded = expectation._record(self.version_token, self.last_modified)
        try:
            with self._write_scope(alias, recover=True):
                super().save(*args, **kwargs)
        except BaseException as exc:
            expectation._restore(recorded)
            self._restore_version(previous)
            if isinstance(exc, IntegrityError) and self._is_duplicate(expectation, exc, alias):
                raise self._conflict(None, using=alias) from None
            if isinstance(exc, DatabaseError) and is_database_conflict(exc):
                raise self._conflict(None, reason=VersionConflict.DATABASE, using=alias) from exc
            raise

    def _is_duplicate(
        self, expectation: VersionExpectation, exc: IntegrityError, alias: str
    ) -> bool:
        """Whether the failed INSERT collided with the expected row's key (not, say, with
        another unique field, which stays the application's error)."""
        keys: list[tuple[str, str]] = []
        if expectation.field == "pk":
            for model in (type(self), *concrete_parents(type(self))):
                pk = model._meta.concrete_model._meta.pk
                keys.append((model._meta.db_table, str(pk.column)))
        else:
            owner = expectation.key.model
            keys.append((owner._meta.db_table, str(expectation.key.column)))
        verdict = duplicates_key(exc, connections[alias], keys)
        if verdict is not None:
            return verdict
        lookup = {expectation.key.attname: expectation.value}
        return bool(type(self)._base_manager.using(alias).filter(**lookup).exists())

    def delete(
        self,
        using: str | None = None,
        keep_parents: bool = False,
        *,
        expected_version: str | None = None,
    ) -> tuple[int, dict[str, int]]:
        """Delete the row; with an expected version (argument or :func:`expect_version`),
        only if it still carries that version, else :class:`VersionConflict`.

        A model that Django deletes with one statement (no cascades, no delete signals) is
        deleted with one statement here too: ``DELETE … WHERE pk = … AND version_token = …``.
        Otherwise the row is first claimed with a compare-and-swap UPDATE (which also locks
        it) and then deleted by Django's collector in the same transaction (a savepoint
        inside the caller's).
        """
        # Also with an explicit version: the request follows the delete (rule 52).
        expectation = _expectation_for(self, using)
        if expectation is not None and expectation.token is None:
            if expected_version is None:
                raise self._conflict(None)  # the row was expected to be absent
            expectation = None  # the explicit version decides
        if expectation is not None and expected_version is None:
            expected_version = expectation.token
        if expected_version is None:
            return self._delete_unexpected(using, keep_parents)
        alias = using or write_alias(type(self), instance=self)
        claimed = False
        try:
            if can_fast_delete(self, alias) and not keep_parents:
                result = self._compare_and_swap_delete(alias, expected_version)
            else:
                # Where the delete may be refused after the claim (PROTECT, RESTRICT, a
                # receiver's compare-and-swap), a savepoint inside a transaction takes the
                # claim back and leaves the caller's transaction usable, as Django's
                # delete() leaves it (rule 51); elsewhere no statement more than before (a
                # receiver's error marks the transaction, as in Django).
                with transaction.atomic(using=alias, savepoint=may_refuse_delete(type(self))):
                    self._claim_for_delete(alias, expected_version, expectation)
                    claimed = True
                    result = super().delete(using=alias, keep_parents=keep_parents)
        except VersionConflict:
            if not claimed:  # the compare-and-swap matched no row: nothing was written
                _clear_rollback_mark(alias)
            raise
        except DatabaseError as exc:
            if is_database_conflict(exc):
                raise self._conflict(
                    expected_version, reason=VersionConflict.DATABASE, using=alias
                ) from exc
            raise
        if expectation is not None:
            token, modified, _, _ = expectation._state()
            expectation._record(token, modified, deleted=True)
        return result

    delete.alters_data = True  # type: ignore[attr-defined]

    def _delete_unexpected(
        self, using: str | None, keep_parents: bool
    ) -> tuple[int, dict[str, int]]:
        """Django's delete of a row the request does not expect. When a receiver may refuse
        it for another row the request expects, in a savepoint: that takes back what the
        delete wrote and leaves the caller's transaction usable."""
        if not (_expectations.get() and may_refuse_delete(type(self))):
            return super().delete(using=using, keep_parents=keep_parents)
        alias = using or write_alias(type(self), instance=self)
        with transaction.atomic(using=alias):
            return super().delete(using=alias, keep_parents=keep_parents)

    def _claim_for_delete(
        self, alias: str, expected_version: str, expectation: VersionExpectation | None
    ) -> None:
        """The compare-and-swap before the collector deletes the row (it also locks it)."""
        claim = new_version_token()
        rows = type(self)._base_manager.using(alias).filter(pk=self.pk)
        if not rows.filter(**{VERSION_FIELD: expected_version}).update(**{VERSION_FIELD: claim}):
            raise self._conflict(expected_version, using=alias)
        if expectation is not None:
            # Receivers that write the row while the collector deletes it (its many-to-many
            # links, a plain parent) compare against the claim and follow it (rule 52).
            expectation._record(claim, expectation.last_modified)

    def _conflict(
        self, expected_version: str | None, reason: str = "stale", *, using: str | None = None
    ) -> VersionConflict:
        """The conflict of a write of this row to the database ``using`` (by default the one
        the instance was loaded from or saved to)."""
        if reason == "database":
            message = f"The database reported a concurrent write to {self._meta.label} {self.pk}"
        elif expected_version is None:
            message = (
                f"{self._meta.label} {self.pk} was expected not to exist, but it does: another "
                "write created it"
            )
        else:
            message = (
                f"{self._meta.label} {self.pk} no longer has version {expected_version!r}: it "
                "was changed or deleted by another write"
            )
        return VersionConflict(
            message,
            model=type(self),
            pk=self.pk,
            expected_version=expected_version,
            reason=reason,
            using=using or self._state.db,
        )

    def _compare_and_swap_delete(
        self, alias: str, expected_version: str
    ) -> tuple[int, dict[str, int]]:
        connection = connections[alias]
        meta = self._meta
        version_field = meta.get_field(VERSION_FIELD)
        pk_field = meta.pk
        assert isinstance(version_field, models.Field)
        assert pk_field is not None
        assert pk_field.column is not None
        assert version_field.column is not None
        quote = connection.ops.quote_name
        sql = (
            f"DELETE FROM {quote(meta.db_table)} "
            f"WHERE {quote(pk_field.column)} = %s AND {quote(version_field.column)} = %s"
        )
        params = [
            pk_field.get_db_prep_value(self.pk, connection),
            version_field.get_db_prep_value(expected_version, connection),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            deleted = cursor.rowcount
        if deleted != 1:
            raise self._conflict(expected_version, using=alias)
        setattr(self, pk_field.attname, None)
        return 1, {meta.label: 1}

    async def asave(self, *args: Any, expected_version: str | None = None, **kwargs: Any) -> None:
        await sync_to_async(self.save)(*args, expected_version=expected_version, **kwargs)

    asave.alters_data = True  # type: ignore[attr-defined]

    async def adelete(
        self,
        using: str | None = None,
        keep_parents: bool = False,
        *,
        expected_version: str | None = None,
    ) -> tuple[int, dict[str, int]]:
        return await sync_to_async(self.delete)(
            using=using, keep_parents=keep_parents, expected_version=expected_version
        )

    adelete.alters_data = True  # type: ignore[attr-defined]

    # -- validators --

    @property
    def etag(self) -> str:
        """The strong entity-tag of the stored state, e.g. ``"tZ1…"`` (quotes included)."""
        return format_entity_tag(self.version_token)

    @property
    def entity_tag(self) -> EntityTag:
        """:attr:`etag` parsed: an :class:`~django_preconditions.headers.EntityTag`, to compare
        with the tags of a request header (``tag.strong_match(instance.entity_tag)``)."""
        return EntityTag(self.version_token)

    @property
    def last_modified_http(self) -> str | None:
        """``Last-Modified`` as served: IMF-fixdate, whole seconds, never in the future;
        ``None`` for a model without ``last_modified``."""
        served = http_timestamp(self.last_modified)
        return None if served is None else http_date(served)


def may_refuse_delete(model: type[models.Model]) -> bool:
    """Whether Django's collector may refuse to delete a row of ``model`` (or of a parent
    it deletes with it) once collecting: a relation to it with ``on_delete=PROTECT`` or
    ``RESTRICT``, or a receiver of its delete that compares and swaps other rows
    (:func:`refuse_deletes_in_receivers`). Fixed once the models are ready, so worked out
    once per class."""
    refuses = _refusing_deletes.get(model)
    if refuses is None:
        owners = (model._meta.concrete_model or model, *concrete_parents(model))
        refuses = any(owner in _refusing_receivers for owner in owners) or any(
            relation.on_delete in (models.PROTECT, models.RESTRICT)
            for owner in owners
            for relation in owner._meta.related_objects
        )
        _refusing_deletes[model] = refuses
    return refuses


def refuse_deletes_in_receivers(model: type[models.Model]) -> None:
    """Note that a ``pre_delete`` receiver for ``model``'s rows may refuse the delete (a
    compare-and-swap of a row it versions): see :func:`may_refuse_delete`."""
    _refusing_receivers.add(model._meta.concrete_model or model)
    _refusing_deletes.clear()


_refusing_deletes: dict[type[models.Model], bool] = {}
_refusing_receivers: set[type[models.Model]] = set()


def _clear_rollback_mark(alias: str) -> None:
    """Undo Django's "needs rollback" mark after a compare-and-swap that matched no row.

    Django marks the enclosing transaction for rollback whenever an exception leaves
    ``save()`` or an ``atomic(savepoint=False)`` block; here the UPDATE/DELETE itself
    succeeded (it matched zero rows), so the transaction is intact and the caller may go on
    using it, e.g. to read the current row for the 412 or to retry. The mark was not set
    before: Django refuses every statement of a transaction marked for rollback, and the
    compare-and-swap ran. So nothing needs reading before the write.
    """
    if connections[alias].in_atomic_block:
        transaction.set_rollback(False, using=alias)


class _LoneStatement:
    """Around a save that is one compare-and-swap UPDATE: when it matches no row, undo
    Django's "needs rollback" mark on the enclosing transaction.

    Django marks the transaction for rollback whenever an exception leaves ``save()``; here
    the only statement matched zero rows, so the transaction is intact and the caller may go
    on using it, e.g. to read the current row for the 412 or to retry. (Saves of several
    statements run in a savepoint instead: :meth:`VersionedModel._write_scope`.) Nothing is
    read before the save (see :func:`_clear_rollback_mark`): it runs on every protected
    write.
    """

    __slots__ = ("alias",)

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> None:
        if isinstance(exc, DatabaseError) and is_zero_row_update(exc):
            _clear_rollback_mark(self.alias)


def _use_versioned_base_manager(sender: type[models.Model], **kwargs: Any) -> None:
    """Give every concrete versioned model our base manager, even when its ``Meta`` does not
    inherit ``VersionedModel.Meta`` (a common omission that would otherwise disable the
    compare-and-swap). A model naming another base manager is reported by check E020."""
    if (
        issubclass(sender, VersionedModel)
        and not sender._meta.abstract
        and sender._meta.base_manager_name is None
    ):
        sender._meta.base_manager_name = BASE_MANAGER_NAME
        reset_base_manager(sender)


class_prepared.connect(_use_versioned_base_manager)


def _guard_plain_parents(sender: type[models.Model], **kwargs: Any) -> None:
    """:func:`.inheritance.guard_plain_parents`, imported when a model is prepared (that
    module builds on this one: no import cycle)."""
    from .inheritance import guard_plain_parents

    guard_plain_parents(sender, **kwargs)


class_prepared.connect(_guard_plain_parents)


def _bump_versions_of_delete_updates(sender: type[models.Model], **kwargs: Any) -> None:
    """Rows whose foreign key Django's collector rewrites on delete (``SET_DEFAULT``,
    ``SET(…)``) get a new version, as those ``SET_NULL`` rewrites (rule 46)."""
    if issubclass(sender, VersionedModel) and not sender._meta.abstract:
        bump_versions_of_delete_updates(sender)


class_prepared.connect(_bump_versions_of_delete_updates)


# --- Rules managed in the admin -------------------------------------------------------------


class ProtectedEndpoint(VersionedModel):
    """A protection rule managed at run time in the Django admin.

    Enforced by :class:`~django_preconditions.middleware.PreconditionMiddleware` for views
    that do not protect themselves in code. A rule can add protection to a view, never
    remove protection that code or ``PRECONDITIONS["VIEWS"]`` declare. Being a
    ``VersionedModel`` itself, two admins editing one rule cannot overwrite each other.
    """

    view = models.CharField(
        _("view"),
        max_length=255,
        unique=True,
        help_text=_(
            "URL name (with namespace, e.g. notes:detail), view dotted path "
            "(e.g. notes.views.note_detail) or route pattern (e.g. notes/<int:pk>/)."
        ),
    )
    methods = models.CharField(
        _("methods"),
        max_length=64,
        default="PUT,PATCH,DELETE",
        help_text=_("Comma-separated methods that must be conditional (POST, PUT, PATCH, DELETE)."),
    )
    required_headers = models.CharField(
        _("required headers"),
        max_length=64,
        default="If-Match,If-Unmodified-Since",
        help_text=_("Comma-separated headers; any one of them satisfies the requirement."),
    )
    allow_wildcard = models.BooleanField(
        _("allow wildcard"),
        null=True,
        blank=True,
        default=None,
        help_text=_("Whether If-Match: * satisfies the requirement (empty: the global setting)."),
    )
    error_format = models.CharField(
        _("error format"),
        max_length=255,
        blank=True,
        default="",
        help_text=_('"problem", "json" or "drf" (empty: the global setting).'),
    )
    model_label = models.CharField(
        _("model"),
        max_length=200,
        blank=True,
        default="",
        help_text=_(
            'Optional "app_label.Model" (a VersionedModel): when the view saves or deletes that '
            "object, the preconditions are checked and the write is a compare-and-swap."
        ),
    )
    lookup_url_kwarg = models.CharField(
        _("lookup URL kwarg"),
        max_length=100,
        blank=True,
        default="",
        help_text=_("The URL keyword argument that identifies the object (with a model)."),
    )
    lookup_field = models.CharField(
        _("lookup field"),
        max_length=100,
        default="pk",
        help_text=_("The model field the URL keyword argument is matched against."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    mode = models.CharField(
        _("mode"),
        max_length=16,
        blank=True,
        default="",
        choices=[
            ("", _("(as code or settings say)")),
            (ENFORCE, _("enforce")),
            (REPORT, _("report")),
        ],
        help_text=_(
            '"report" lets requests without a precondition through and reports them; '
            '"enforce" answers 428. A rule can switch an endpoint from report to enforce, never '
            "from enforce to report."
        ),
    )
    note = models.TextField(_("note"), blank=True, default="")

    class Meta(VersionedModel.Meta):
        verbose_name = _("protected endpoint")
        verbose_name_plural = _("protected endpoints")
        ordering = ("view",)

    def __str__(self) -> str:
        return self.view

    def clean(self) -> None:
        """Validate every field of the rule (``validation.admin_rule_errors``): an admin rule
        can only add protection, and nothing an admin typed is ever imported."""
        from django.core.exceptions import ValidationError

        from .validation import admin_rule_errors

        # No view (blank, or refused by the field's own validators, e.g. too long): that
        # field's error says so; "'' matches no URL pattern" would only add noise.
        errors = admin_rule_errors(self.as_rule(), self.view, check_view=bool(self.view))
        if errors:
            raise ValidationError(errors)

    def as_rule(self) -> dict[str, Any]:
        """The rule in the shape of a ``PRECONDITIONS["VIEWS"]`` entry."""
        rule: dict[str, Any] = {
            "methods": split_comma_list(self.methods),
            "required_headers": split_comma_list(self.required_headers),
        }
        if self.allow_wildcard is not None:
            rule["allow_wildcard"] = self.allow_wildcard
        if self.error_format:
            rule["error_format"] = self.error_format
        if self.model_label:
            rule["model"] = self.model_label
        if self.lookup_url_kwarg:
            rule["lookup_url_kwarg"] = self.lookup_url_kwarg
        if self.lookup_field and self.lookup_field != "pk":
            rule["lookup_field"] = self.lookup_field
        if self.mode:
            rule["mode"] = self.mode
        return rule
