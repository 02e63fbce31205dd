"""The few places where we lean on Django behaviour that is not documented public API.

Each is isolated here and pinned by ``tests/test_compat.py``, which fails loudly when a Django
release changes it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from types import CodeType, FunctionType
from typing import Any, Final

import django.core.exceptions
from django.core.exceptions import EmptyResultSet
from django.core.paginator import InvalidPage, Page, Paginator
from django.db import DEFAULT_DB_ALIAS, DatabaseError, models, router
from django.db.models.deletion import Collector
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable, ValuesListIterable
from django.db.models.sql.where import AND
from django.http import HttpRequest, HttpResponse
from django.utils.log import log_response as _django_log_response
from django.views.decorators import http as _django_http

# Django 6.0 made "the UPDATE matched no row" a public exception, Model.NotUpdated (a
# subclass of ObjectNotUpdated and DatabaseError). Older versions raise a bare DatabaseError.
_OBJECT_NOT_UPDATED: type[Exception] | None = getattr(
    django.core.exceptions, "ObjectNotUpdated", None
)


def is_zero_row_update(exc: BaseException) -> bool:
    """Whether ``exc`` is Django's own "Forced update did not affect any rows." error.

    ``Model.save(force_update=True)`` (and ``update_fields=…``) raise it when the UPDATE
    matched no row: ``Model.NotUpdated`` from Django 6.0, before that a bare
    ``DatabaseError`` of Django's making (not wrapping a driver error). Under a
    compare-and-swap save it means the version (or the row) changed.
    """
    if _OBJECT_NOT_UPDATED is not None:
        return isinstance(exc, _OBJECT_NOT_UPDATED)
    return type(exc) is DatabaseError and exc.__cause__ is None


def routers_configured() -> bool:
    """Whether ``DATABASE_ROUTERS`` names any router (``ConnectionRouter.routers``, not public
    API). Without one, a queryset reads where its instances are written: nothing to re-target
    for rule 54."""
    return bool(router.routers)


def on_write_database(queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """``queryset`` reading where its model's writes go, so that the version a write is
    checked against is never read on a replica (rule 54): a clone ``using()`` the write
    database when the queryset reads where the router sends the model's reads and that is
    not where it sends its writes; otherwise the queryset itself. Without routers it reads
    where its instances are written; a queryset ``using()`` a database the router does not
    read from (a shard the view chose) loads instances whose saves go back there."""
    if not routers_configured():
        return queryset
    model = queryset.model
    write = router.db_for_write(model)
    reads = queryset.db
    if reads == write or reads != router.db_for_read(model):
        return queryset
    return queryset.using(write)


def load_with_rows(queryset: models.QuerySet[Any], names: tuple[str, ...]) -> models.QuerySet[Any]:
    """``queryset`` loading the fields ``names`` in the statement that loads its rows, taken
    out of a ``defer()`` or added to an ``only()``; the queryset itself when it defers none of
    them (the common case: no clone). A deferred field is read by a query of its own when it
    is first accessed, possibly after another request's write: a version token read that way
    would label older data (rules 39, 44). Reads ``Query.deferred_loading`` (not public
    API; ``tests/test_compat.py`` pins it)."""
    deferred, deferring = queryset.query.deferred_loading
    if not deferred:  # nothing deferred (only() always names at least one field)
        return queryset
    if deferring:
        if deferred.isdisjoint(names):
            return queryset
        clone = queryset.all()
        clone.query.deferred_loading = (frozenset(deferred).difference(names), True)
        return clone
    if deferred.issuperset(names):
        return queryset
    return queryset.only(*deferred, *names)


def write_alias(model: type[models.Model], instance: models.Model | None = None) -> str:
    """``router.db_for_write(model, instance=instance)``, without the router's call when no
    router is configured (the common case; every protected write asks, some twice).

    Reads the router's list of routers (``ConnectionRouter.routers``, not public API; Django's
    test signals keep it current under ``override_settings(DATABASE_ROUTERS=…)``) and repeats
    its fallback: the instance's database, else the default one."""
    if router.routers:
        return router.db_for_write(model, instance=instance)
    if instance is not None and instance._state.db:
        return instance._state.db
    return DEFAULT_DB_ALIAS


def can_fast_delete(instance: Any, using: str) -> bool:
    """Whether Django would delete ``instance`` with a single DELETE (no cascades, no
    delete signals, no parents): the case where our compare-and-swap DELETE needs no
    extra statement."""
    return bool(Collector(using=using, origin=instance).can_fast_delete(instance))


def non_atomic_aliases(view: Any) -> frozenset[str]:
    """The databases ``view`` is marked ``transaction.non_atomic_requests`` for.

    Django's handler reads the same attribute (``BaseHandler.make_view_atomic``)."""
    return frozenset(getattr(view, "_non_atomic_requests", ()))


def set_non_atomic_aliases(view: Any, aliases: frozenset[str]) -> None:
    """Mark ``view`` non-atomic for exactly ``aliases``, in a set of its own.

    ``transaction.non_atomic_requests`` adds to the set the view already has, which
    ``functools.wraps`` and ``View.as_view()`` share with the wrapped function or the class's
    ``dispatch``; adding there would opt those out too. The set records what is added to it
    afterwards: a ``non_atomic_requests`` applied above ours (see
    :func:`non_atomic_aliases_added_later`)."""
    view._non_atomic_requests = _NonAtomicAliases(aliases)


class _NonAtomicAliases(set[str]):
    """A view's ``_non_atomic_requests`` set, remembering the aliases added to it later (by
    ``transaction.non_atomic_requests``, which calls ``add()``)."""

    def __init__(self, aliases: frozenset[str]) -> None:
        super().__init__(aliases)
        self.added_later: set[str] = set()

    def add(self, alias: str) -> None:
        self.added_later.add(alias)
        super().add(alias)


def non_atomic_aliases_added_later(view: Any) -> frozenset[str]:
    """The databases a ``transaction.non_atomic_requests`` applied to ``view`` after
    :func:`set_non_atomic_aliases` opted it out of."""
    return frozenset(getattr(getattr(view, "_non_atomic_requests", None), "added_later", ()))


def request_body_replayable(request: HttpRequest) -> bool:
    """Whether a view can be run a second time on ``request``: its body was not read, or was
    read through ``request.body`` (which caches it). A body streamed with ``request.read()``
    is gone."""
    return hasattr(request, "_body") or not getattr(request, "_read_started", False)


def concrete_parents(model: Any) -> list[Any]:
    """Every concrete ancestor of ``model`` under multi-table inheritance, nearest first
    (``Options.get_parent_list()``, not in Django's documented ``_meta`` API)."""
    return list(model._meta.get_parent_list())


def log_response(message: str, *args: Any, request: HttpRequest, response: HttpResponse) -> None:
    """Log a 4xx the way Django logs its own 412s (``django.request``, warning level)."""
    _django_log_response(message, *args, response=response, request=request)


# --- Reading Django's view decorators (the audit) ------------------------------------------
# ``require_http_methods`` and ``condition`` leave no public marker on the views they wrap:
# the wrapper is recognised by its code object, and the allowed methods are read from the
# wrapper's closure (``request_method_list``). Our own decorators set public attributes
# (``preconditions_enforcer``, ``preconditions_condition_only``) instead.


@functools.cache
def _codes_inside(factory: Callable[..., Any]) -> frozenset[CodeType]:
    """The code of every function defined inside ``factory`` (its wrappers among them)."""
    found: set[CodeType] = set()
    pending = [factory.__code__]
    while pending:
        for constant in pending.pop().co_consts:
            if isinstance(constant, CodeType):
                found.add(constant)
                pending.append(constant)
    return frozenset(found)


def _made_by(layer: Any, factory: Callable[..., Any]) -> bool:
    """Whether ``layer`` is a wrapper function created by the decorator ``factory``."""
    code = getattr(layer, "__code__", None)
    return isinstance(code, CodeType) and code in _codes_inside(factory)


def require_http_methods_allowed(layer: Any) -> tuple[str, ...] | None:
    """The methods of a ``require_http_methods`` wrapper, or ``None`` when ``layer`` is not
    one."""
    if not _made_by(layer, _django_http.require_http_methods):
        return None
    cells = layer.__closure__ or ()
    closure = dict(zip(layer.__code__.co_freevars, (cell.cell_contents for cell in cells)))
    return tuple(closure["request_method_list"])


def made_by_access_check(layer: Any) -> bool:
    """Whether ``layer`` is a wrapper made by Django's ``user_passes_test`` — which
    ``login_required`` and ``permission_required`` are built on."""
    from django.contrib.auth import decorators

    return _made_by(layer, decorators.user_passes_test)


def made_by_django_condition(layer: Any) -> bool:
    """Whether ``layer`` is a wrapper made by Django's ``condition`` (``etag``,
    ``last_modified``)."""
    return _made_by(layer, _django_http.condition)


# --- Model options, the admin, DRF's browsable API ------------------------------------------


def reset_base_manager(model: Any) -> None:
    """Forget ``model._meta.base_manager`` (a ``cached_property`` of ``Options``), so that a
    ``base_manager_name`` set after the class was prepared is used."""
    model._meta.__dict__.pop("base_manager", None)


def admin_sites() -> list[Any]:
    """Every ``AdminSite`` instance (``django.contrib.admin.sites.all_sites``, a weak set
    that Django's admin checks also read)."""
    from django.contrib.admin.sites import all_sites

    return list(all_sites)


# The DELETE button's form in DRF's ``rest_framework/base.html`` is fixed markup.
_DRF_DELETE_FORM = re.compile(r'<form\b[^>]*\bdata-method="DELETE"[^>]*>')


def add_to_drf_delete_form(html: str, markup: str) -> str:
    """``markup`` inserted at the start of the browsable API's DELETE form."""
    return _DRF_DELETE_FORM.sub(lambda match: match.group(0) + markup, html, count=1)


def page_number_page(paginator: Any, queryset: Any, request: Any) -> list[Any] | None:
    """What DRF's ``PageNumberPagination.paginate_queryset(queryset, request)`` returns, with
    the same state left on ``paginator`` (``request``, ``page``, ``display_page_controls``),
    but the page read as one slice of ``queryset`` rather than item by item through Django's
    ``Page.__getitem__`` (which ``list(page)`` calls once per item: most of the cost of a
    token-only page of 1,000). Mirrors DRF's method body (pinned by ``tests/test_compat.py``);
    an invalid page is left to DRF, which raises its ``NotFound``."""
    paginator.request = request
    page_size = paginator.get_page_size(request)
    if not page_size:
        return None
    django_paginator = paginator.django_paginator_class(queryset, page_size)
    page_number = paginator.get_page_number(request, django_paginator)
    counted = counted_page(django_paginator, page_number)
    try:
        page = django_paginator.page(page_number)
    except InvalidPage:
        return list(paginator.paginate_queryset(queryset, request))
    paginator.page = page
    if django_paginator.num_pages > 1 and paginator.template is not None:
        paginator.display_page_controls = True
    if counted is not None:
        return counted
    return list(page.object_list) if type(page) is Page else list(page)


def counted_page(django_paginator: Any, page_number: Any) -> list[tuple[Any, ...]] | None:
    """Page ``page_number`` of ``django_paginator``'s tuples (a ``values_list()`` queryset)
    read in one statement together with their count, which is then the paginator's
    ``count`` (a cached property): one query instead of Django's ``COUNT`` and then the
    page (see :func:`counted_slice`).

    ``None`` (nothing read) unless the paginator is Django's own without orphans and not
    counted yet and the page number a plain positive integer (of fewer than 19 digits), or
    when the page is empty beyond the first (the paginator then counts and refuses the page
    as usual)."""
    if (
        type(django_paginator) is not Paginator
        or django_paginator.orphans
        or "count" in django_paginator.__dict__
    ):
        return None
    if type(page_number) is int:
        number = page_number
    elif (
        isinstance(page_number, str)
        and page_number.isascii()
        and page_number.isdigit()
        and len(page_number) < 19  # no row number is longer; int() of 4,301 digits raises
    ):
        number = int(page_number)
    else:
        return None
    if number < 1:
        return None
    per_page = django_paginator.per_page
    counted = counted_slice(django_paginator.object_list, (number - 1) * per_page, per_page)
    if counted is None or counted[1] is None:
        return None
    django_paginator.count = counted[1]
    return counted[0]


def limit_offset_page(paginator: Any, queryset: Any, request: Any) -> list[Any] | None:
    """What DRF's ``LimitOffsetPagination.paginate_queryset(queryset, request)`` returns, with
    the same state left on ``paginator`` (``request``, ``limit``, ``offset``, ``count``,
    ``display_page_controls``), but the rows and their count read in one statement
    (:func:`counted_slice`) where DRF counts first and then slices. A paginator with its own
    ``get_count()`` (an estimate, say) is asked for its count as DRF asks it. Mirrors DRF's
    method body (pinned by ``tests/test_compat.py``)."""
    from rest_framework.pagination import LimitOffsetPagination

    paginator.request = request
    paginator.limit = limit = paginator.get_limit(request)
    if limit is None:
        return None
    paginator.offset = offset = paginator.get_offset(request)
    rows, count = None, None
    if type(paginator).get_count is LimitOffsetPagination.get_count:
        rows, count = counted_slice(queryset, offset, limit) or (None, None)
    paginator.count = paginator.get_count(queryset) if count is None else count
    if paginator.count > limit and paginator.template is not None:
        paginator.display_page_controls = True
    if paginator.count == 0 or offset > paginator.count:
        return []
    return rows if rows is not None else list(queryset[offset : offset + limit])


#: The largest row number a statement may name: SQLite's and PostgreSQL's ``LIMIT``/``OFFSET``
#: are signed 64-bit integers. A page or an offset beyond it (a client can ask for any)
#: is left to the paginator, which counts first and never slices that far.
_MAX_ROW_NUMBER: Final = 2**63 - 1

#: The column and the derived table of :func:`counted_slice`'s count.
_COUNT_COLUMN = "preconditions_page_count"
_COUNTED_TABLE = "preconditions_counted"


def counted_slice(
    queryset: Any, first: int, size: int
) -> tuple[list[tuple[Any, ...]], int | None] | None:
    """Rows ``first`` to ``first + size`` of ``queryset`` (tuples of a ``values_list()``
    queryset) and the queryset's count, read in one statement. The count is ``COUNT(*)``
    over the queryset's own SQL without its ordering, what ``QuerySet.count()`` counts, as
    an uncorrelated subquery the database runs once.

    ``None`` (nothing read) unless ``queryset`` is an unsliced queryset of tuples, ``first``
    not negative, ``size`` positive and the slice within a 64-bit row number, or when its
    SQL cannot match any row (``EmptyResultSet``). A slice empty beyond the start tells no
    count: ``([], None)``, and the caller counts as usual. Compiles the queryset
    (``Query.get_compiler``, not public API)."""
    if (
        not isinstance(queryset, models.QuerySet)
        or queryset._iterable_class is not ValuesListIterable
        or queryset.query.is_sliced
        or type(first) is not int
        or type(size) is not int
        or first < 0
        or size < 1
        or first + size > _MAX_ROW_NUMBER
    ):
        return None
    unordered = queryset.order_by()
    try:
        sql, params = unordered.query.get_compiler(using=unordered.db).as_sql()
    except EmptyResultSet:
        return None
    count = RawSQL(f"SELECT COUNT(*) FROM ({sql}) {_COUNTED_TABLE}", params)
    rows = list(queryset.annotate(**{_COUNT_COLUMN: count})[first : first + size])
    if rows:
        return [row[:-1] for row in rows], rows[0][-1]
    return [], (0 if first == 0 else None)


def version_tokens_of(queryset: models.QuerySet[Any]) -> models.QuerySet[Any] | None:
    """``queryset`` as ``(pk, version_token)`` tuples — same filters, same ordering — or
    ``None`` when it does not yield model instances (``values()``, ``values_list()``) or
    combines querysets (``union()``…): there a token-only query would not describe the rows
    the view serves. Reads the queryset's iterable class, combinator and prefetch lookups (not
    public API)."""
    if queryset._iterable_class is not ModelIterable or queryset.query.combinator:
        return None
    if getattr(queryset, "_prefetch_related_lookups", True):  # they would run on the tuples
        queryset = queryset.prefetch_related(None)
    return queryset.values_list("pk", "version_token")


def add_exact_filter(queryset: models.QuerySet[Any], field_name: str, value: Any) -> None:
    """Add ``<field_name> = <value>`` to ``queryset``'s WHERE clause, in place: the SQL
    ``filter(**{field_name: value})`` adds for a local concrete field and a value that is not
    ``None``, without resolving the lookup path again or building an ``Exact`` lookup (it runs
    inside every compare-and-swap save, where the lookup cost more than the rest of our
    save). The condition names the query's base table alias (not public API)."""
    query = queryset.query
    field = queryset.model._meta.get_field(field_name)
    assert isinstance(field, models.Field)
    query.where.add(_ColumnEquals(query.get_initial_alias(), field, value), AND)


class _ColumnEquals:
    """``"<alias>"."<column>" = %s`` as a WHERE-clause child: the SQL an ``Exact`` lookup on a
    column compiles to (``tests/test_compat.py`` compares them), with only the few methods a
    ``WhereNode`` calls on its children. Immutable, so clones of the query share it."""

    contains_aggregate = False
    contains_over_clause = False
    is_summary = False

    __slots__ = ("alias", "field", "value")

    def __init__(self, alias: str, field: models.Field[Any, Any], value: Any) -> None:
        self.alias = alias
        self.field = field
        self.value = value

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        # Django 6.1 renamed quote_name_unless_alias() (deprecated there) to quote_name().
        quote = getattr(compiler, "quote_name", None) or compiler.quote_name_unless_alias
        column = f"{quote(self.alias)}.{quote(self.field.column)}"
        operator = connection.operators["exact"] % "%s"
        return f"{column} {operator}", [self.field.get_db_prep_value(self.value, connection)]

    def relabeled_clone(self, change_map: dict[str, str]) -> _ColumnEquals:
        return _ColumnEquals(change_map.get(self.alias, self.alias), self.field, self.value)

    def get_group_by_cols(self) -> list[Any]:
        return []

    def get_refs(self) -> set[Any]:
        return set()

    def replace_expressions(self, replacements: dict[Any, Any]) -> _ColumnEquals:
        return self


def on_commit_pending(connection: Any, callback: Callable[[], None]) -> bool:
    """Whether ``callback``, given to ``transaction.on_commit()`` on ``connection``, still
    waits for the COMMIT: false once the savepoint or transaction it was registered in has
    been rolled back (Django then drops it). Reads ``connection.run_on_commit`` (not public
    API; entries are ``(savepoint ids, callback, robust)``), pinned by
    ``tests/test_compat.py``."""
    return any(entry[1] is callback for entry in connection.run_on_commit)


def hand_over_resources(replaced: Any, sent: Any) -> None:
    """Give the response ``sent`` instead of ``replaced`` the closers of ``replaced`` (its
    file, its stream's ``close()``): Django closes them when it closes the response it sends,
    and never closes one it does not send. ``HttpResponseBase.close()`` would close them now
    but also send ``request_finished`` mid-request. Moves ``_resource_closers`` (not public
    API), pinned by ``tests/test_compat.py``."""
    closers = getattr(replaced, "_resource_closers", None)
    if closers:
        sent._resource_closers.extend(closers)
        closers.clear()


# --- Foreign keys that Django's collector rewrites on delete (rule 46) ----------------------


class VersionBumpingOnDelete:
    """The ``on_delete`` handler of a foreign key on a versioned model, for the handlers whose
    rows Django's collector loads and then rewrites with a bare ``UpdateQuery`` that no
    queryset sees (``SET_DEFAULT``, ``SET(callable)``, a project's own): the handler is
    given the rows as an unevaluated queryset of the same filter instead, which the collector
    writes with ``QuerySet.update()`` — the versioned base manager's, which gives the rows a
    new version. ``SET_NULL`` and ``SET(value)`` get such a queryset from Django already
    (they are marked ``lazy_sub_objs``, not public API); ``CASCADE`` deletes the rows,
    ``PROTECT``/``RESTRICT``/``DO_NOTHING`` write nothing, so those are not wrapped.

    Equal to the handler it wraps, with its attributes (``deconstruct``), and written into
    migrations as that handler: ``makemigrations`` sees no change.
    ``tests/test_compat.py`` pins the collector's behaviour this relies on.
    """

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[..., Any]) -> None:
        self.handler = handler

    def __call__(self, collector: Collector, field: Any, sub_objs: Any, using: str) -> Any:
        if isinstance(sub_objs, models.QuerySet):
            sub_objs = sub_objs.all()  # a clone without the rows the collector loaded
        return self.handler(collector, field, sub_objs, using)

    def __getattr__(self, name: str) -> Any:
        if name == "handler":  # not set yet (copy, pickle)
            raise AttributeError(name)
        return getattr(self.handler, name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, VersionBumpingOnDelete):
            other = other.handler
        return bool(self.handler == other)

    def __hash__(self) -> int:
        return hash(self.handler)

    def __repr__(self) -> str:
        return repr(self.handler)


def _writes_loaded_rows(handler: Any) -> bool:
    """Whether Django's collector gives ``handler`` the loaded rows and writes the field
    updates it schedules for them without a queryset (see :class:`VersionBumpingOnDelete`)."""
    if not isinstance(handler, FunctionType) or getattr(handler, "lazy_sub_objs", False):
        # Django 6.1's DB_CASCADE, DB_SET_NULL, DB_SET_DEFAULT are objects the database
        # carries out (ON DELETE …): no collector writes, and Django tells them by their class.
        return False
    return handler not in (models.CASCADE, models.PROTECT, models.RESTRICT, models.DO_NOTHING)


def bump_versions_of_delete_updates(model: type[models.Model]) -> None:
    """Wrap the ``on_delete`` handlers of ``model``'s own foreign keys that need it (see
    :class:`VersionBumpingOnDelete`); called once per concrete versioned model."""
    for field in model._meta.local_fields:
        remote = field.remote_field
        handler = getattr(remote, "on_delete", None) if remote is not None else None
        if handler is not None and callable(handler) and _writes_loaded_rows(handler):
            remote.on_delete = VersionBumpingOnDelete(handler)  # type: ignore[union-attr]


def register_on_delete_serializer() -> None:
    """Write a :class:`VersionBumpingOnDelete` into migrations as the handler it wraps
    (``MigrationWriter.register_serializer``, public API)."""
    from django.db.migrations.serializer import BaseSerializer, serializer_factory
    from django.db.migrations.writer import MigrationWriter

    class OnDeleteSerializer(BaseSerializer):
        def serialize(self) -> tuple[str, set[str]]:
            return serializer_factory(self.value.handler).serialize()

    MigrationWriter.register_serializer(VersionBumpingOnDelete, OnDeleteSerializer)
