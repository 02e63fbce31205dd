"""``PreconditionMiddleware``: protection for views that are not protected in code.

Rules come from ``PRECONDITIONS["VIEWS"]`` and from admin rules
(:class:`~django_preconditions.models.ProtectedEndpoint`), matched by the resolved view's
namespaced URL name, dotted path or route. Views protected in code are left alone (never
evaluated twice). Settings win over admin rules, and an admin rule can only add protection
(``rules.rule_for_keys``).

The middleware decides **after** the view's own access control and method dispatch
(CONFORMANCE rules 12 and 13): it never reads the row itself. For a protected unsafe request
it runs the view in a transaction and registers a request-scoped expectation for the rule's
row; the precondition is evaluated when the view saves or deletes that row (428 when missing,
412 when stale — the write is the compare-and-swap), and a refusal rolls back everything the
view wrote. Headers-only rules (no model) refuse, and roll back, a request that wrote to the
database without the required header. On GET/HEAD a 304 (or the ``ETag``) comes only from the
row the view itself loaded, and only when the view answered 200. docs/views.md says what a
view must do to be protected this way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, router, transaction
from django.db.models.signals import post_init
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_noop

from .conditions import IGNORED_METHODS, SAFE_METHODS, Decision, Outcome, Reason, Requirement
from .dbconflicts import conflict_from
from .enforcement import Enforcer, Snapshot
from .models import (
    MODIFIED_FIELD,
    VERSION_FIELD,
    VersionedModel,
    VersionExpectation,
    pop_expectation,
    register_expectation,
    version_root,
)
from .policy import Policy, settings_entry, view_keys_for_request
from .rules import ADMIN_RULE, rule_for_keys
from .transactions import current_version, keep_body, run_with_retries
from .validation import is_admin_view

__all__ = ["PreconditionMiddleware", "is_protected_in_code", "rule_for_keys"]

logger = logging.getLogger("django_preconditions")

_STATE_ATTRIBUTE = "_preconditions_middleware_state"
_NO_MATCH = object()
_WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE")


def is_protected_in_code(view: Any) -> bool:
    """Whether the view enforces preconditions itself (decorator, CBV mixin, DRF mixin)."""
    for candidate in (view, getattr(view, "view_class", None), getattr(view, "cls", None)):
        if candidate is not None and getattr(candidate, "preconditions_protected", False):
            return True
    return False


# --- The request-scoped guard ---------------------------------------------------------------

_current_guard: ContextVar[_Guard | None] = ContextVar(
    "django_preconditions_middleware_guard", default=None
)


class _Refused(Exception):
    """Raised inside the view's ``save()``/``delete()`` of the protected row: the request is
    refused (400, 412 or 428); the guard answers once the view's writes are rolled back."""


class _LazyExpectation(VersionExpectation):
    """The expectation registered for the rule's row: its ``token`` is decided when the view
    writes the row (``save()``/``delete()`` read it just before the compare-and-swap)."""

    def __init__(self, guard: _Guard) -> None:
        assert guard.model is not None
        self._guard = guard
        self._decided = False
        super().__init__(model=guard.model, pk=None, token="")

    def matches(self, instance: models.Model, using: str | None = None) -> bool:
        if using is not None and using != self.using:
            return False
        return self._guard.targets(instance)

    @property
    def pk(self) -> Any:
        """The row's primary key: from the URL, or from the instance the view loaded."""
        pk = self._guard.target_pk()
        return None if pk is _NO_MATCH else pk

    @pk.setter
    def pk(self, value: Any) -> None:
        pass  # decided by the guard

    @property
    def decided(self) -> bool:
        return self._decided

    @property
    def token(self) -> str | None:
        if not self._decided:
            self._token = self._guard.decide_write(self._guard.target_pk())
            self._decided = True
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value


class _Guard:
    """What the middleware knows about one protected request."""

    def __init__(
        self,
        request: HttpRequest,
        view: Any,
        policy: Policy,
        model: type[VersionedModel] | None,
        lookup_attname: str,
        lookup_value: Any,
    ) -> None:
        self.request = request
        self.enforcer = Enforcer(view)
        self.policy = policy
        self.model = model
        self.lookup_attname = lookup_attname
        self.lookup_value = lookup_value
        self.unsafe = request.method not in SAFE_METHODS
        self.alias = router.db_for_write(model) if model is not None else DEFAULT_DB_ALIAS
        self.candidates: list[VersionedModel] = []
        self.expectation: _LazyExpectation | None = None
        self.refused: Decision | None = None
        self.refused_response: HttpResponse | None = None
        self.failed = False
        self.wrote = False
        self.transaction: _ViewTransaction | None = None

    # -- what the view loads and writes --

    def saw(self, instance: VersionedModel) -> None:
        """``post_init`` of an instance of the rule's model while the view runs."""
        values = instance.__dict__
        if VERSION_FIELD in values and values.get(self.lookup_attname, _NO_MATCH) == (
            self.lookup_value
        ):
            self.candidates.append(instance)
            del self.candidates[:-4]  # bounded: a view loading the row in a loop

    @property
    def loaded(self) -> VersionedModel | None:
        """The last instance of the rule's row the view loaded from the database."""
        for instance in reversed(self.candidates):
            if not instance._state.adding:
                return instance
        return None

    def target_pk(self) -> Any:
        if self.lookup_attname == self.model._meta.pk.attname:  # type: ignore[union-attr]
            return self.lookup_value
        loaded = self.loaded
        return loaded.pk if loaded is not None else _NO_MATCH

    def targets(self, instance: models.Model) -> bool:
        if self.model is None or version_root(type(instance)) is not version_root(self.model):
            return False  # any class of the row: a proxy, a parent or a child (rule 53)
        pk = self.target_pk()
        return pk is not _NO_MATCH and instance.pk == pk

    def observe(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """``execute_wrapper``: remember whether the view wrote to the database."""
        if not self.wrote and sql.lstrip()[:7].upper().startswith(_WRITE_STATEMENTS):
            self.wrote = True
        return execute(sql, params, many, context)

    # -- decisions --

    def refuse(self, decision: Decision, snapshot: Snapshot) -> HttpResponse:
        response = self.enforcer.refusal(self.request, decision, snapshot, self.policy)
        assert response is not None
        return response

    def decide_write(self, pk: Any) -> str | None:
        """The view is writing the row: evaluate the preconditions against the stored row
        (read on the database the write goes to) and return the token the compare-and-swap
        must find; raise :class:`_Refused` (400, 412, 428) otherwise."""
        assert self.model is not None
        row = None
        if pk is not _NO_MATCH:
            row = (
                self.model._base_manager.using(self.alias)
                .filter(pk=pk)
                .values_list(VERSION_FIELD, MODIFIED_FIELD)
                .first()
            )
        snapshot = Snapshot.of_version(*row) if row else Snapshot.absent()
        decision = self.enforcer.decide(self.request, snapshot, self.policy)
        if not decision.proceeds:
            self.refused = decision
            raise _Refused(decision.status)
        # No row: the write must create it, as an INSERT that fails on conflict (rule 50).
        return str(row[0]) if row else None

    def settle(self, response: HttpResponse) -> HttpResponse:
        """The response after the view: its own, with validators, or a refusal."""
        if self.refused is not None:
            return self.refusal()
        loaded = self.loaded
        if not self.unsafe:
            if response.status_code != 200 or loaded is None:
                return response
            snapshot = Snapshot.of_instance(loaded)
            decision = self.enforcer.decide(self.request, snapshot, self.policy)
            if not decision.proceeds:
                return self.refuse(decision, snapshot)
            return self.enforcer.finish(self.request, response, snapshot, None)
        if self.expectation is not None and self.expectation.written:
            return self.enforcer.finish(self.request, response, Snapshot.absent(), self.expectation)
        # The view wrote without saving the row through the ORM (or a headers-only rule), or
        # refused the body of a request for the row it loaded (rule 11): judge what we can.
        judged = self.wrote or (loaded is not None and response.status_code in (400, 422))
        if not judged:
            return response
        known = Snapshot.of_instance(loaded) if loaded is not None else None
        decision = self.enforcer.decide(self.request, known, self.policy)
        if decision.proceeds:
            return response
        return self.refuse(decision, known if known is not None else Snapshot.absent())

    def refusal(self) -> HttpResponse:
        """The answer to a write refused by the preconditions, with the row's current version
        read after the view's writes are rolled back: outside the transaction's snapshot, so
        the latest committed one also under REPEATABLE READ (rule 55)."""
        assert self.refused is not None
        if self.refused_response is None:
            self.rollback_now()
            self.refused_response = self.refuse(self.refused, self.current())
        return self.refused_response

    def current(self) -> Snapshot:
        """The row as committed now, on the database the write goes to (rule 54)."""
        pk = self.target_pk()
        current = current_version(self.model, None if pk is _NO_MATCH else pk)
        if current is None:
            return Snapshot.absent()
        return Snapshot.of_version(current.token, current.last_modified)

    def rollback_now(self) -> None:
        """Roll back the view's transaction before answering a refusal or a lost race (its
        writes leave no trace: rule 51; the current version is then read fresh: rule 55)."""
        pending, self.transaction = self.transaction, None
        if pending is not None:
            pending.close(rollback=True)

    def conflict(self, exception: Exception) -> HttpResponse | None:
        """A write that lost the race inside the view: 412 with the current version, or 503
        when the database refused a write whose row did not change (rules 44, 47, 55)."""
        conflict = conflict_from(exception)
        if conflict is None:
            return None
        self.rollback_now()
        expectation = self.expectation
        checked = None
        if isinstance(expectation, _LazyExpectation) and expectation.decided:
            token = expectation.token
            checked = Snapshot.of_version(token, None) if token is not None else None
        return self.enforcer.answer_conflict(
            self.request,
            self.policy,
            Decision(
                Outcome.PROCEED,
                Reason.PRECONDITIONS_PASSED,
                self.request.method or "PUT",
                requirement=self.policy.requirement,
            ),
            conflict,
            checked,
        )

    # -- life cycle --

    def open(self) -> None:
        _current_guard.set(self)
        if self.unsafe:
            if self.model is not None:
                self.expectation = register_expectation(_LazyExpectation(self))
            self.transaction = _ViewTransaction(self.alias, self.observe)

    def finish(self, response: HttpResponse | None) -> HttpResponse | None:
        """Settle the response and commit, or roll back a refused or failed request. The
        transaction is always closed, also when settling raises."""
        final: HttpResponse | None = None
        try:
            final = self.settle(response) if response is not None else None
        except BaseException:
            self.failed = True
            raise
        finally:
            final = self._close(response, final)
        return final

    def _close(self, response: HttpResponse | None, final: HttpResponse | None) -> Any:
        try:
            pending, self.transaction = self.transaction, None
            if pending is not None:
                rollback = self.failed or final is None or final is not response
                try:
                    pending.close(rollback=rollback)
                except DatabaseError as exc:  # e.g. a serialization failure at COMMIT
                    answer = self.conflict(exc)
                    if answer is None:
                        raise
                    final = answer
            return final
        finally:
            self.transaction = None
            if self.expectation is not None:
                pop_expectation(self.expectation)
            _current_guard.set(None)


class _ViewTransaction:
    """The view's transaction on ``alias``, opened just before the view runs (in
    ``process_view``, on the thread that runs the view) and closed after it; meanwhile every
    statement is shown to ``observe``. Kept in this one class so it can be swapped for the
    core helper that runs a view in its own transaction."""

    def __init__(self, alias: str, observe: Callable[..., Any]) -> None:
        self.alias = alias
        self.stack = contextlib.ExitStack()
        self.stack.enter_context(transaction.atomic(using=alias))
        self.stack.enter_context(connections[alias].execute_wrapper(observe))

    def close(self, *, rollback: bool) -> None:
        if rollback:
            transaction.set_rollback(True, using=self.alias)
        self.stack.close()


def _record_loaded(sender: Any, instance: models.Model, **kwargs: Any) -> None:
    guard = _current_guard.get()
    if guard is not None and guard.model is not None and isinstance(instance, guard.model):
        guard.saw(instance)


def _connect_loading_signal() -> None:
    for model in apps.get_models():
        if issubclass(model, VersionedModel):
            post_init.connect(
                _record_loaded,
                sender=model,
                weak=False,
                dispatch_uid=f"django_preconditions.middleware:{model._meta.label}",
            )


def _build_guard(
    request: HttpRequest, view: Any, rule: Mapping[str, Any], view_kwargs: Mapping[str, Any]
) -> _Guard | None:
    """The guard for this request, ``None`` when the rule asks nothing of it; raises
    ``ImproperlyConfigured`` (or another error) when the rule cannot be applied."""
    if rule.get("broken"):
        raise ImproperlyConfigured(str(rule["broken"]))
    policy = Policy.from_settings().updated(**rule)
    method = request.method or "GET"
    if method not in SAFE_METHODS and method not in policy.methods:
        return None
    label = rule.get("model")
    if not label:
        if method in SAFE_METHODS:
            return None  # headers only: nothing to say about a read
        return _Guard(request, view, policy, None, "", _NO_MATCH)
    model = apps.get_model(str(label))
    if not issubclass(model, VersionedModel):
        raise ImproperlyConfigured(f"{label} is not a VersionedModel")
    kwarg = str(rule.get("lookup_url_kwarg"))
    if kwarg not in view_kwargs:
        raise ImproperlyConfigured(f"the URL has no keyword argument {kwarg!r}")
    field_name = rule.get("lookup_field", "pk")
    field = model._meta.pk if field_name == "pk" else model._meta.get_field(field_name)
    if not isinstance(field, models.Field) or field.is_relation:
        raise ImproperlyConfigured(f"{field_name!r} is not a field of {label}")
    try:
        value = field.to_python(view_kwargs[kwarg])
    except ValidationError:
        value = _NO_MATCH  # the view answers for a malformed id (usually 404)
    assert field.attname is not None
    return _Guard(request, view, policy, model, field.attname, value)


def _fail_closed(request: HttpRequest, view: Any, keys: tuple[str, ...], problem: str) -> Any:
    """A rule that cannot be applied: unsafe methods get 428 (logged), never 500, never the
    view without protection; reads are left to the view."""
    method = request.method or "GET"
    logger.error(
        "django-preconditions cannot apply the protection rule for %s (%s); %s requests are "
        "refused with 428 until the rule is fixed (run `manage.py check`).",
        keys[0] if keys else request.path,
        problem,
        method,
    )
    if method in SAFE_METHODS:
        return None
    policy = Policy.from_settings().updated(**(settings_entry(keys) or {}))
    decision = Decision(
        Outcome.PRECONDITION_REQUIRED,
        Reason.PRECONDITION_MISSING,
        method,
        detail=gettext_noop(  # translated when the response is written
            "the protection rule for this endpoint cannot be applied, so the server refuses "
            "writes until an administrator fixes it"
        ),
        requirement=Requirement(methods=frozenset({method})),
    )
    return Enforcer(view).refusal(request, decision, Snapshot.absent(), policy)


# --- The middleware -------------------------------------------------------------------------


class PreconditionMiddleware:
    """Enforce settings and admin rules around the resolved view (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        _connect_loading_signal()

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        # Run again when the database refused a write of an unchanged row (rule 47), as the
        # adapters protecting in code do; each run has its own transaction, rolled back.
        return run_with_retries(request, lambda: self._run_once(request))

    def _run_once(self, request: HttpRequest) -> Any:
        if hasattr(request, _STATE_ATTRIBUTE):
            delattr(request, _STATE_ATTRIBUTE)  # the previous run's guard is closed
        try:
            response = self.get_response(request)
        except BaseException:
            self._abandon(request)
            raise
        guard: _Guard | None = getattr(request, _STATE_ATTRIBUTE, None)
        return response if guard is None else guard.finish(response)  # type: ignore[arg-type]

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = await self.get_response(request)  # type: ignore[misc]
        except BaseException:
            await sync_to_async(self._abandon, thread_sensitive=True)(request)
            raise
        guard: _Guard | None = getattr(request, _STATE_ATTRIBUTE, None)
        if guard is None:
            return response  # type: ignore[no-any-return]
        if guard.transaction is None:
            return guard.finish(response)  # type: ignore[return-value]
        # The transaction was opened on the thread that ran process_view: close it there.
        finished = await sync_to_async(guard.finish, thread_sensitive=True)(response)
        return finished  # type: ignore[return-value]

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if request.method in IGNORED_METHODS or is_protected_in_code(view_func):
            return None
        keys = view_keys_for_request(request)
        found = rule_for_keys(keys)
        if found is None or (found[1] == ADMIN_RULE and is_admin_view(view_func)):
            return None  # admin rules never apply to the admin site itself
        try:
            guard = _build_guard(request, view_func, found[0], view_kwargs)
        except Exception as exc:  # a broken rule fails closed, never 500
            return _fail_closed(request, view_func, keys, str(exc))  # type: ignore[no-any-return]
        if guard is None:
            return None
        if guard.unsafe:
            keep_body(request)  # so that a run refused by the database can be replayed
        guard.open()
        setattr(request, _STATE_ATTRIBUTE, guard)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        guard: _Guard | None = getattr(request, _STATE_ATTRIBUTE, None)
        if guard is None:
            return None
        guard.failed = True
        if isinstance(exception, _Refused):
            return guard.refusal()
        return guard.conflict(exception)

    def _abandon(self, request: HttpRequest) -> None:
        guard: _Guard | None = getattr(request, _STATE_ATTRIBUTE, None)
        if guard is not None:
            guard.failed = True
            guard.finish(None)
