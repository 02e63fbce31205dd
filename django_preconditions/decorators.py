"""View decorators.

``condition``, ``etag`` and ``last_modified`` are drop-in replacements for Django's
decorators of the same names: change the import, keep the behaviour — except that a
malformed ``If-Match`` is answered 400 instead of being ignored (CONFORMANCE rule 5), entity-tag
lists are split only on commas outside quotes (rule 2), and ``If-Unmodified-Since`` is ignored
for a resource without a modification date (rule 25).

:func:`require_preconditions` protects a view over a
:class:`~django_preconditions.models.VersionedModel`: unsafe methods must be conditional
(428), stale requests get 412 before the view runs, and the view's own ``save()``/``delete()``
of the object is an atomic compare-and-swap.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from inspect import iscoroutinefunction
from typing import Any, TypeVar, cast

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models, router
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.http import http_date, quote_etag

from ._compat import on_write_database
from .conditions import IGNORED_METHODS, SAFE_METHODS
from .creation import advance_sequence, creatable_key, is_primary_key
from .enforcement import Enforcer, Guard, Snapshot
from .exceptions import VersionConflict
from .headers import ETAG, LAST_MODIFIED
from .models import VersionedModel, with_version_fields
from .transactions import own_request_transaction, run_with_retries

__all__ = ["condition", "etag", "last_modified", "require_preconditions"]

_View = TypeVar("_View", bound=Callable[..., Any])
ETagFunc = Callable[..., str | None]
LastModifiedFunc = Callable[..., datetime.datetime | None]


def _epoch(value: datetime.datetime | None) -> int | None:
    """As Django's ``condition``: naive datetimes are taken as UTC."""
    if not value:
        return None
    if not timezone.is_aware(value):
        value = timezone.make_aware(value, datetime.timezone.utc)
    return int(value.timestamp())


def condition(
    etag_func: ETagFunc | None = None, last_modified_func: LastModifiedFunc | None = None
) -> Callable[[_View], _View]:
    """Drop-in for ``django.views.decorators.http.condition``.

    Evaluates the preconditions the client sent against the values of ``etag_func`` and
    ``last_modified_func`` (both called with the view's arguments) and answers 304/412 as
    Django does, with the RFC fixes listed in the module docstring. It does not *require*
    preconditions and compares ``If-Match`` strongly, as Django does: see
    :func:`require_preconditions` for that.
    """

    def decorator(func: _View) -> _View:
        enforcer = Enforcer(func, weak_if_match=False, methods=(), required_headers=())

        def prepare(request: HttpRequest, *args: Any, **kwargs: Any) -> tuple[Snapshot, Any]:
            """The validators, and the refusal that replaces the view (``None``: run it)."""
            modified = (
                _epoch(last_modified_func(request, *args, **kwargs)) if last_modified_func else None
            )
            tag = etag_func(request, *args, **kwargs) if etag_func else None
            snapshot = Snapshot.of_validators(
                quote_etag(tag) if tag is not None else None, modified
            )
            if request.method in IGNORED_METHODS:
                return snapshot, None
            # Drop-in: evaluate only, never require (no 428).
            return snapshot, enforcer.begin(request, snapshot).refused

        def after(request: HttpRequest, response: HttpResponse, snapshot: Snapshot) -> HttpResponse:
            # As Django: validators only on GET/HEAD, never overriding the view's own.
            if request.method in ("GET", "HEAD"):
                if snapshot.last_modified and not response.has_header(LAST_MODIFIED):
                    response.headers[LAST_MODIFIED] = http_date(snapshot.last_modified)
                if snapshot.etag:
                    response.headers.setdefault(ETAG, snapshot.etag)
            return response

        if iscoroutinefunction(func):

            async def _async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                # In a worker thread, as the other async adapters: the validator functions may
                # use the ORM, and so may the receivers of a refusal's signals.
                snapshot, response = await sync_to_async(prepare)(request, *args, **kwargs)
                if response is None:
                    response = await func(request, *args, **kwargs)
                return after(request, response, snapshot)

            return cast("_View", _mark_condition(wraps(func)(_async_view)))

        def _view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            snapshot, response = prepare(request, *args, **kwargs)
            if response is None:
                response = func(request, *args, **kwargs)
            return after(request, response, snapshot)

        return cast("_View", _mark_condition(wraps(func)(_view)))

    return decorator


def etag(etag_func: ETagFunc) -> Callable[[_View], _View]:
    """Drop-in for ``django.views.decorators.http.etag``."""
    return condition(etag_func=etag_func)


def last_modified(last_modified_func: LastModifiedFunc) -> Callable[[_View], _View]:
    """Drop-in for ``django.views.decorators.http.last_modified``."""
    return condition(last_modified_func=last_modified_func)


def _mark_condition(view: Callable[..., Any]) -> Any:  # returns the view, typed by callers
    """Mark a view as evaluating, not requiring, preconditions (for the audit)."""
    view.preconditions_condition_only = True  # type: ignore[attr-defined]
    return view


def _mark_protected(view: Callable[..., Any], enforcer: Enforcer) -> Any:  # typed by callers
    """Mark a view as enforcing preconditions itself, so the middleware and the audit know
    (and do not evaluate it twice); ``preconditions_enforcer`` is what the audit asks for the
    view's policy (a public marker: nothing reads the decorator's closure)."""
    view.preconditions_protected = True  # type: ignore[attr-defined]
    view.preconditions_enforcer = enforcer  # type: ignore[attr-defined]
    return view


QuerySetSource = (
    type[models.Model] | models.QuerySet[Any] | Callable[[HttpRequest], models.QuerySet[Any]]
)


def _queryset(source: QuerySetSource, request: HttpRequest) -> models.QuerySet[Any]:
    if isinstance(source, type) and issubclass(source, models.Model):
        return source._default_manager.all()
    if isinstance(source, models.QuerySet):
        return source.all()
    return cast("Callable[[HttpRequest], models.QuerySet[Any]]", source)(request)


_READ_METHODS = SAFE_METHODS | IGNORED_METHODS


@dataclass(frozen=True)
class _Target:
    """Where :func:`require_preconditions` finds the object a request targets."""

    source: QuerySetSource
    lookup_url_kwarg: str
    lookup_field: str
    allow_create: bool

    def model(self, request: HttpRequest) -> type[models.Model]:
        return _queryset(self.source, request).model

    def load(self, request: HttpRequest, kwargs: dict[str, Any]) -> VersionedModel | None:
        lookup_url_kwarg, lookup_field = self.lookup_url_kwarg, self.lookup_field
        if lookup_url_kwarg not in kwargs:
            raise ImproperlyConfigured(
                f"require_preconditions(lookup_url_kwarg={lookup_url_kwarg!r}): the URL pattern "
                f"passes {sorted(kwargs)!r}. Name the keyword argument that identifies the object."
            )
        # The version fields come with the row, whatever only()/defer() the source has: the
        # ETag names the data served with it (rules 39, 44).
        queryset = with_version_fields(_queryset(self.source, request))
        if request.method not in _READ_METHODS:
            queryset = on_write_database(queryset)
        try:
            instance = queryset.get(**{lookup_field: kwargs[lookup_url_kwarg]})
        except (queryset.model.DoesNotExist, ValueError, TypeError, ValidationError):
            return None
        if not isinstance(instance, VersionedModel):
            raise ImproperlyConfigured(
                f"require_preconditions needs a VersionedModel; {type(instance).__name__} is not "
                "one. Inherit from django_preconditions.models.VersionedModel."
            )
        return instance

    def creatable(self, request: HttpRequest, kwargs: dict[str, Any]) -> Any:
        """The key of a create-by-PUT, or ``None`` when the column cannot hold it or it would
        exhaust the key generator (see :mod:`django_preconditions.creation`)."""
        target = self.model(request)
        alias = router.db_for_write(target)
        return creatable_key(target, self.lookup_field, kwargs.get(self.lookup_url_kwarg), alias)

    def creation(self, request: HttpRequest, kwargs: dict[str, Any]) -> Any:
        """The row a create-by-PUT makes, so that its save is create-only (rule 50)."""
        target = self.model(request)
        lookup_field = self.lookup_field
        if lookup_field != "pk" and lookup_field not in {
            field.name for field in target._meta.concrete_fields
        }:
            return None  # a lookup across relations names no single column
        return target, lookup_field, kwargs[self.lookup_url_kwarg]

    def hidden_from_caller(
        self, request: HttpRequest, kwargs: dict[str, Any], conflict: VersionConflict
    ) -> bool:
        """After a create-by-PUT lost to another request's create: whether that row exists
        but lies outside the caller's queryset (then 404, never 412 with its ETag: rule 13)."""
        if conflict.model is None or conflict.expected_version is not None:
            return False
        if self.load(request, kwargs) is not None:
            return False
        lookup = {self.lookup_field: kwargs[self.lookup_url_kwarg]}
        return bool(self.model(request)._base_manager.filter(**lookup).exists())

    def hidden(self, guard: Guard, kwargs: dict[str, Any], conflict: VersionConflict) -> bool:
        return guard.snapshot.creation is not None and self.hidden_from_caller(
            guard.request, kwargs, conflict
        )

    def begin(
        self,
        enforcer: Enforcer,
        request: HttpRequest,
        instance: VersionedModel | None,
        kwargs: dict[str, Any],
    ) -> Guard | HttpResponse | None:
        """The guard; or the 404 that replaces the view; or ``None`` for a method that is not
        evaluated (rule 14), after ``request.preconditions`` is set for it."""
        policy = enforcer.policy(request)
        if instance is None:
            if not (self.allow_create and request.method in ("PUT", *IGNORED_METHODS)):
                return enforcer.not_found(request, policy)
            if request.method == "PUT" and self.creatable(request, kwargs) is None:
                return enforcer.not_found(request, policy)  # item 12
            snapshot = Snapshot.absent(self.creation(request, kwargs))
        else:
            snapshot = Snapshot.of_instance(instance)
        if request.method in IGNORED_METHODS:
            # Not evaluated (rule 14), but the view sees the object as on any other method.
            request.preconditions = enforcer.context(request, snapshot, policy)  # type: ignore[attr-defined]
            return None
        guard = enforcer.begin(request, snapshot, policy)
        return guard if guard.refused is None else guard.refused

    def created(self, request: HttpRequest, kwargs: dict[str, Any], response: HttpResponse) -> None:
        """After a create-by-PUT of a primary key: keep POSTs working (the key sequence)."""
        if 200 <= response.status_code < 300:
            target = self.model(request)
            if is_primary_key(target, self.lookup_field):
                key = self.creatable(request, kwargs)
                # The database the row went to (the create-only expectation is bound to it
                # at the INSERT: a view may save it with using=…), else the router's.
                context = getattr(request, "preconditions", None)
                expectation = getattr(context, "expectation", None)
                alias = getattr(expectation, "using", None) or router.db_for_write(target)
                advance_sequence(target, key, alias)


def require_preconditions(
    model: QuerySetSource,
    *,
    lookup_url_kwarg: str = "pk",
    lookup_field: str = "pk",
    methods: Iterable[str] | None = None,
    required_headers: Iterable[str] | None = None,
    allow_wildcard: bool | None = None,
    weak_if_match: bool | None = None,
    error_format: str | Callable[..., Any] | None = None,
    include_current_etag: bool | None = None,
    allow_create: bool = False,
    mode: str | None = None,
) -> Callable[[_View], _View]:
    """Protect a function view over one object of a :class:`VersionedModel`.

    ``model`` is the model, a queryset, or a callable taking the request and returning the
    queryset the caller may see (objects outside it get 404, never 412 — rule 13). The object is
    ``queryset.get(<lookup_field>=kwargs[<lookup_url_kwarg>])``; it is available to the view as
    ``request.preconditions.instance`` (use it rather than fetching again).

    The other arguments override the ``PRECONDITIONS`` settings for this view. With
    ``allow_create=True``, ``PUT`` to an absent object reaches the view when it carries
    ``If-None-Match: *`` (create-only, rules 26 and 31). ``mode="report"`` lets requests
    without a precondition through and reports them (docs/rollout.md).

    Put authentication and permission decorators *outside* this one, so that 401/403 come
    before 412/428 (rule 12).
    """
    overrides = {
        "methods": tuple(methods) if methods is not None else None,
        "required_headers": tuple(required_headers) if required_headers is not None else None,
        "allow_wildcard": allow_wildcard,
        "weak_if_match": weak_if_match,
        "error_format": error_format,
        "include_current_etag": include_current_etag,
        "mode": mode,
    }
    target = _Target(model, lookup_url_kwarg, lookup_field, allow_create)

    def decorator(func: _View) -> _View:
        enforcer = Enforcer(func, **overrides)
        if iscoroutinefunction(func):
            return cast(
                "_View", _mark_protected(_async_protected(func, target, enforcer), enforcer)
            )
        view = own_request_transaction(
            _mark_protected(_protected(func, target, enforcer), enforcer)
        )
        enforcer.transaction_view = view
        return cast("_View", view)

    return decorator


def _async_protected(func: _View, target: _Target, enforcer: Enforcer) -> Callable[..., Any]:
    @wraps(func)
    async def _async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Loading and deciding run in a worker thread, as the sync view does: besides the
        # row's query, a decision may read the lazy request.user (report mode) and a refusal
        # sends signals whose receivers may use the ORM, which the event loop forbids.
        guard = await sync_to_async(_begin_loaded)(target, enforcer, request, kwargs)
        if isinstance(guard, HttpResponse):
            return guard
        if guard is None:
            return await func(request, *args, **kwargs)  # type: ignore[no-any-return]

        async def call() -> HttpResponse:
            try:
                return await func(request, *args, **kwargs)  # type: ignore[no-any-return]
            except VersionConflict as conflict:
                if await sync_to_async(target.hidden)(guard, kwargs, conflict):
                    return await sync_to_async(guard.not_found)()
                raise

        response = await guard.arun(call)
        if guard.snapshot.instance is None:  # a create-by-PUT: keep POSTs working
            await sync_to_async(target.created)(request, kwargs, response)
        return response

    return _async_view


def _begin_loaded(
    target: _Target, enforcer: Enforcer, request: HttpRequest, kwargs: dict[str, Any]
) -> Guard | HttpResponse | None:
    """Load the object and decide (:meth:`_Target.begin`)."""
    return target.begin(enforcer, request, target.load(request, kwargs), kwargs)


def _protected(func: _View, target: _Target, enforcer: Enforcer) -> Callable[..., Any]:
    @wraps(func)
    def _view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        def attempt() -> HttpResponse:
            started: list[Guard] = []

            def begin() -> Guard | HttpResponse | None:
                result = target.begin(enforcer, request, target.load(request, kwargs), kwargs)
                if isinstance(result, Guard):
                    started.append(result)
                return result

            def call(guard: Guard | None) -> HttpResponse:
                try:
                    return func(request, *args, **kwargs)  # type: ignore[no-any-return]
                except VersionConflict as conflict:
                    if guard is not None and target.hidden(guard, kwargs, conflict):
                        return guard.not_found()
                    raise

            response = enforcer.guarded(request, begin, call)
            if started and started[0].snapshot.instance is None:  # a create-by-PUT
                target.created(request, kwargs, response)
            return response

        # Run again when the database refused an unchanged row (rule 47).
        return run_with_retries(request, attempt)

    return _view
