"""What every adapter does around a view, written once.

An adapter loads the target and describes it as a :class:`Snapshot`; :meth:`Enforcer.begin`
then resolves the policy, decides (:func:`~django_preconditions.conditions.evaluate`) and
builds the refusal (304, 400, 412 or 428) when the request must not reach the view, and
returns a :class:`Guard`. :meth:`Guard.run` calls the view inside the request transaction
with the expected version registered, so the view's own ``save()``/``delete()`` is the
compare-and-swap; a lost race becomes 412 (or 503, rule 47); success gets the validators.
The decorators and the class-based-view mixin use that sequence as is. The middleware, which
must not read the row before the view, uses :meth:`Enforcer.begin_deferred`: a
:class:`DeferredGuard` decides at the view's first write (the same steps, later). The DRF
mixin keeps its timing (after ``check_object_permissions``) and calls the same steps:
:meth:`Enforcer.decide`, :meth:`Enforcer.error`, :meth:`Enforcer.answer_conflict` and
:meth:`Enforcer.finish`.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, router, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.http import http_date

from .conditions import (
    CONDITIONAL_HEADERS,
    SAFE_METHODS,
    Decision,
    Outcome,
    Reason,
    ResourceState,
    evaluate,
)
from .dbconflicts import conflict_from
from .exceptions import VersionConflict
from .headers import (
    ETAG,
    LAST_MODIFIED,
    EntityTag,
    format_entity_tag,
    meta_key,
    parse_entity_tag,
)
from .models import (
    MODIFIED_FIELD,
    VERSION_FIELD,
    VersionedModel,
    VersionExpectation,
    expect_creation,
    http_timestamp,
    observe_loads,
    pop_expectation,
    push_expectation,
    register_expectation,
    served_timestamp,
    stored_timestamp,
    version_root,
)
from .policy import (
    REPORT,
    Policy,
    dotted_path,
    enforced_by_admin_rule,
    route_key,
    settings_generation,
    view_keys_for_request,
)
from .reporting import report_unmet
from .responses import (
    PreconditionError,
    announce,
    describe,
    error_response,
    not_found_error,
    render,
    retry_later_error,
)
from .transactions import current_version, mark_retryable, request_transaction

__all__ = [
    "DeferredGuard",
    "DeferredTarget",
    "Enforcer",
    "Guard",
    "PreconditionContext",
    "Snapshot",
    "set_validators",
]


@dataclass(frozen=True)
class Snapshot:
    """The target as read before the view runs."""

    state: ResourceState
    instance: models.Model | None = None
    etag: str | None = None  # header form, quotes included
    last_modified: int | None = None  # whole seconds since the epoch
    # An absent target a PUT may create: (model, unique field, value). The view's save of
    # that row is then create-only: an INSERT that fails on conflict (rule 50).
    creation: tuple[type[models.Model], str, Any] | None = None

    @classmethod
    def of_instance(cls, instance: VersionedModel) -> Snapshot:
        return cls.of_version(instance.version_token, instance.last_modified, instance)

    @classmethod
    def of_version(
        cls,
        token: str,
        modified: datetime.datetime | None,
        instance: models.Model | None = None,
    ) -> Snapshot:
        """Preconditions are evaluated against the stored second; the ``Last-Modified``
        served is that second only once it is settled, the one before until then, and never
        later than now (rules 22, 24 and 39: :func:`~django_preconditions.models.http_timestamp`).
        """
        stored = stored_timestamp(modified)
        return cls(
            state=ResourceState(exists=True, etag=EntityTag(token), last_modified=stored),
            instance=instance,
            etag=format_entity_tag(token),
            last_modified=served_timestamp(stored),
        )

    @classmethod
    def absent(cls, creation: tuple[type[models.Model], str, Any] | None = None) -> Snapshot:
        return cls(state=ResourceState(exists=False), creation=creation)

    @classmethod
    def of_validators(cls, etag: str | None, last_modified: int | None) -> Snapshot:
        """For views described by ETag/Last-Modified functions (Django's ``condition``).

        As in Django, a ``None`` ETag means "no current representation" for ``If-Match``.
        """
        tag: EntityTag | None = None
        if etag is not None:
            tag = parse_entity_tag(etag) or EntityTag(etag.strip('"'))
        return cls(
            state=ResourceState(exists=etag is not None, etag=tag, last_modified=last_modified),
            etag=etag,
            last_modified=last_modified,
        )


@dataclass
class PreconditionContext:
    """Set as ``request.preconditions`` for the view: the object already loaded (use it
    instead of fetching again), the policy and the decision."""

    instance: models.Model | None
    policy: Policy
    decision: Decision
    expectation: VersionExpectation | None = None

    @property
    def object(self) -> models.Model | None:
        """Deprecated alias of :attr:`instance` (removed in the next minor release)."""
        warnings.warn(
            "request.preconditions.object is deprecated: use request.preconditions.instance.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.instance


def set_validators(
    response: HttpResponse, instance: VersionedModel, *, force: bool = False
) -> HttpResponse:
    """Put ``instance``'s ``ETag`` and ``Last-Modified`` on ``response`` (e.g. after creating
    it in a view). Existing headers are kept unless ``force``."""
    values = {ETAG: instance.etag, LAST_MODIFIED: instance.last_modified_http}
    for name, value in values.items():
        if force or not response.has_header(name):
            response.headers[name] = value
    return response


class Enforcer:
    """The enforcement steps, parametrised by the view and the arguments given in code."""

    def __init__(self, view: Any, **policy_overrides: Any) -> None:
        self.view = view
        self.view_path = dotted_path(view)
        self.policy_overrides = policy_overrides
        #: What :func:`.transactions.request_transaction` reads the view's database opt-outs
        #: from: the view as marked by ``own_request_transaction`` (set by the adapter).
        self.transaction_view: Any = None

    def policy(self, request: HttpRequest, *extra_keys: str) -> Policy:
        """Resolved once per route (and ``extra_keys``), until ``PRECONDITIONS`` changes: a
        request pays a dictionary look-up; admin rules are consulted in report mode only."""
        generation = settings_generation()
        policies: dict[Any, tuple[tuple[str, ...], Policy]] | None = self.__dict__.get("_policies")
        if policies is None or self.__dict__.get("_generation") != generation:
            policies = self.__dict__["_policies"] = {}
            self.__dict__["_generation"] = generation
        cache_key = (route_key(request), extra_keys)
        known = policies.get(cache_key)
        if known is None:
            keys = (*view_keys_for_request(request), self.view_path, *extra_keys)
            known = policies[cache_key] = (keys, Policy.resolve_base(keys, **self.policy_overrides))
        keys, policy = known
        if policy.mode != REPORT:  # enforce mode: no admin rule can change it
            return policy
        return enforced_by_admin_rule(policy, keys)

    # -- the one sequence --

    def begin(
        self, request: HttpRequest, snapshot: Snapshot, policy: Policy | None = None
    ) -> Guard:
        """Resolve the policy (unless given), decide, and build the refusal if any: the
        :class:`Guard` that runs the view, or holds the response that replaces it."""
        policy = self.policy(request) if policy is None else policy
        decision = self.decide(request, snapshot, policy)
        refused = self.refusal(request, decision, snapshot, policy)
        return Guard(self, request, snapshot, policy, decision, refused)

    # -- before the view --

    def decide(
        self,
        request: HttpRequest,
        snapshot: Snapshot | None,
        policy: Policy,
        *,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        required: bool = True,
    ) -> Decision:
        """``snapshot`` is ``None`` when the current state is unknown (headers-only rules).
        ``method`` and ``headers`` replace the request's (DRF's real method behind a cloned
        request, a browsable-API form's token); ``required=False`` evaluates the headers sent
        without requiring any (a POST to a collection)."""
        decision = evaluate(
            method or request.method or "GET",
            conditional_headers(request) if headers is None else headers,
            snapshot.state if snapshot is not None else None,
            policy.requirement if required else None,
            weak_if_match=policy.weak_if_match,
        )
        if decision.unmet is not None:  # report mode let a request without one through
            report_unmet(request, decision, view=self.view)
        return decision

    def error(
        self,
        request: HttpRequest,
        decision: Decision,
        policy: Policy,
        current: Snapshot | None,
    ) -> PreconditionError:
        """The facts of a refusal, for adapters that render it their own way (DRF)."""
        return describe(
            decision,
            request,
            policy,
            current_etag=current.etag if current else None,
            last_modified=current.last_modified if current else None,
        )

    def refusal(
        self, request: HttpRequest, decision: Decision, snapshot: Snapshot, policy: Policy
    ) -> HttpResponse | None:
        """The response that replaces the view, or ``None`` when the view must run."""
        if decision.proceeds:
            return None
        if decision.outcome is Outcome.NOT_MODIFIED:
            return not_modified(snapshot)
        return error_response(
            request,
            decision,
            policy,
            view=self.view,
            current_etag=snapshot.etag,
            last_modified=snapshot.last_modified,
        )

    def not_found(self, request: HttpRequest, policy: Policy) -> HttpResponse:
        return render(request, not_found_error(request, policy), policy)

    def begin_deferred(
        self, request: HttpRequest, policy: Policy, target: DeferredTarget
    ) -> DeferredGuard:
        """The guard for an adapter that decides when the view writes (or, for a read, after
        it answered): see :class:`DeferredGuard`. Call its ``open()`` before the view."""
        return DeferredGuard(self, request, policy, target)

    # -- around the view --

    def expectation_for(self, request: HttpRequest, snapshot: Snapshot) -> tuple[Any, str] | None:
        """(model, pk) and the token the view's write must find, for unsafe methods."""
        instance = snapshot.instance
        if request.method in SAFE_METHODS or not isinstance(instance, VersionedModel):
            return None
        return instance, instance.version_token

    def run(
        self,
        request: HttpRequest,
        snapshot: Snapshot,
        policy: Policy,
        decision: Decision,
        call: Callable[[], HttpResponse],
    ) -> HttpResponse:
        """Call the view inside the request transaction (see :mod:`.transactions`): a lost
        race or a database conflict — raised by a statement or by the COMMIT — rolls the
        view's writes back and is answered by :meth:`answer_conflict`."""
        try:
            with (
                request_transaction(self.transaction_view),
                self.protecting(request, snapshot, policy, decision) as context,
            ):
                response = call()
        except (VersionConflict, DatabaseError) as exc:
            conflict = conflict_from(exc)
            if conflict is None:
                raise
            return self.answer_conflict(request, policy, decision, conflict, snapshot)
        return self.finish(request, response, snapshot, context.expectation)

    async def arun(
        self,
        request: HttpRequest,
        snapshot: Snapshot,
        policy: Policy,
        decision: Decision,
        call: Callable[[], Awaitable[HttpResponse]],
    ) -> HttpResponse:
        try:
            with self.protecting(request, snapshot, policy, decision) as context:
                response = await call()
        except (VersionConflict, DatabaseError) as exc:
            conflict = conflict_from(exc)
            if conflict is None:
                raise
            return await sync_to_async(self.answer_conflict)(
                request, policy, decision, conflict, snapshot
            )
        return self.finish(request, response, snapshot, context.expectation)

    def context(
        self, request: HttpRequest, snapshot: Snapshot | None, policy: Policy
    ) -> PreconditionContext:
        """``request.preconditions`` for a request that is not evaluated (OPTIONS, TRACE,
        CONNECT: rule 14): the loaded object, the policy, and a "not evaluated" decision, so
        a view reading ``request.preconditions.instance`` works on every method."""
        method = request.method or "OPTIONS"
        instance = snapshot.instance if snapshot is not None else None
        return PreconditionContext(
            instance, policy, Decision(Outcome.PROCEED, Reason.NOT_EVALUATED, method)
        )

    @contextlib.contextmanager
    def protecting(
        self, request: HttpRequest, snapshot: Snapshot, policy: Policy, decision: Decision
    ) -> Iterator[PreconditionContext]:
        """While the view runs: ``request.preconditions`` is set and, for unsafe methods, the
        loaded version is expected by any save/delete of the row (the compare-and-swap)."""
        context = PreconditionContext(snapshot.instance, policy, decision)
        request.preconditions = context  # type: ignore[attr-defined]
        if request.method in SAFE_METHODS:
            yield context
            return
        target = self.expectation_for(request, snapshot)
        if target is None:
            if snapshot.creation is None:
                yield context
                return
            model, field, value = snapshot.creation
            with expect_creation(model, value, field=field) as expectation:
                context.expectation = expectation
                yield context
            return
        instance, token = target
        using = router.db_for_write(type(instance), instance=instance)
        # expect_version() without its generator: this runs on every protected write.
        expectation = push_expectation(type(instance), instance.pk, token, using=using)
        try:
            context.expectation = expectation
            yield context
        finally:
            pop_expectation(expectation)

    def conflict_error(
        self,
        request: HttpRequest,
        policy: Policy,
        decision: Decision,
        conflict: VersionConflict,
        checked: Snapshot | None,
        *,
        method: str | None = None,
    ) -> tuple[PreconditionError, Decision | None]:
        """The answer to a write refused by the compare-and-swap or by the database (rules 44,
        47, 50, 55), once the request's transaction is rolled back: the error, and the 412's
        decision — or ``None`` for a 503 with ``Retry-After``.

        The row's current version is read now, on the write database: 412 with it when it is
        not the version the request was checked against (``checked``), or the row is gone
        (a create-only write that found the row created meanwhile: rule 50); 503 when the
        database refused the write although the row did not change (a serialization failure
        or deadlock over something else): nothing was applied, and the same request may
        simply be sent again.
        """
        current, unchanged = conflict_outcome(conflict, checked)
        method = method or request.method
        if unchanged or (conflict.reason == VersionConflict.DATABASE and method in SAFE_METHODS):
            return retry_later_error(request, policy), None
        created = conflict.model is not None and conflict.expected_version is None
        failed = decision.lost_race(created=created)
        return self.error(request, failed, policy, current), failed

    def answer_conflict(
        self,
        request: HttpRequest,
        policy: Policy,
        decision: Decision,
        conflict: VersionConflict,
        checked: Snapshot | None,
    ) -> HttpResponse:
        """:meth:`conflict_error`, rendered (the 412 announced like any refusal)."""
        error, failed = self.conflict_error(request, policy, decision, conflict, checked)
        response = render(request, error, policy)
        if failed is None:
            return mark_retryable(response)
        announce(request, failed, response, view=self.view)
        return response

    def finish(
        self,
        request: HttpRequest,
        response: HttpResponse,
        snapshot: Snapshot,
        expectation: VersionExpectation | None,
    ) -> HttpResponse:
        """See :func:`finish`."""
        return finish(request, response, snapshot, expectation)


def finish(
    request: HttpRequest,
    response: HttpResponse,
    snapshot: Snapshot,
    expectation: VersionExpectation | None,
) -> HttpResponse:
    """Validators on success (rules 39, 41): the new ones after a write, the loaded ones
    on GET/HEAD; none after a delete."""
    if not 200 <= response.status_code < 300:
        return response
    if expectation is not None and expectation.written:
        if not expectation.deleted:
            response.headers[ETAG] = expectation.etag
            response.headers[LAST_MODIFIED] = _http_date(http_timestamp(expectation.last_modified))
        return response
    if request.method == "DELETE" or (snapshot.etag is None and snapshot.last_modified is None):
        return response
    if snapshot.etag is not None and not response.has_header(ETAG):
        response.headers[ETAG] = snapshot.etag
    if snapshot.last_modified is not None and not response.has_header(LAST_MODIFIED):
        response.headers[LAST_MODIFIED] = _http_date(snapshot.last_modified)
    return response


@functools.lru_cache(maxsize=512)
def _http_date(timestamp: int | None) -> str:
    """``Last-Modified`` text: formatted once per second value, not on every response."""
    return http_date(timestamp)


_CONDITIONAL_META: Final = tuple((meta_key(name), name) for name in CONDITIONAL_HEADERS)


def conditional_headers(request: HttpRequest) -> dict[str, str]:
    """The request's conditional headers, read from ``request.META`` (an empty dict for most
    requests): ``request.headers`` would first copy every header of the request."""
    meta = request.META
    return {name: meta[key] for key, name in _CONDITIONAL_META if key in meta}


@dataclass
class Guard:
    """One request's enforcement, from :meth:`Enforcer.begin` to the response: the policy,
    the snapshot and the decision, and ``refused`` — the response that replaces the view
    (304, 400, 412, 428), or ``None`` when the view must run through :meth:`run`."""

    enforcer: Enforcer
    request: HttpRequest
    snapshot: Snapshot
    policy: Policy
    decision: Decision
    refused: HttpResponse | None

    def run(self, call: Callable[[], HttpResponse]) -> HttpResponse:
        """The view, as the compare-and-swap guards it (see :meth:`Enforcer.run`)."""
        return self.enforcer.run(self.request, self.snapshot, self.policy, self.decision, call)

    async def arun(self, call: Callable[[], Awaitable[HttpResponse]]) -> HttpResponse:
        return await self.enforcer.arun(
            self.request, self.snapshot, self.policy, self.decision, call
        )

    def not_found(self) -> HttpResponse:
        return self.enforcer.not_found(self.request, self.policy)


def not_modified(snapshot: Snapshot) -> HttpResponse:
    """304 with the validators the 200 would carry (rule 28); the view never runs."""
    response = HttpResponseNotModified()
    if snapshot.etag is not None:
        response.headers[ETAG] = snapshot.etag
    if snapshot.last_modified is not None:
        response.headers[LAST_MODIFIED] = _http_date(snapshot.last_modified)
    return response


def current_row(conflict: VersionConflict) -> Snapshot | None:
    """The row as it is now, for the 412 that reports a lost race (one query, only then),
    read on the write database (rule 54)."""
    current = current_version(conflict.model, conflict.pk)
    return None if current is None else Snapshot.of_version(current.token, current.last_modified)


def conflict_outcome(
    conflict: VersionConflict, checked: Snapshot | None
) -> tuple[Snapshot | None, bool]:
    """The row's current version after a refused write, and whether it is still the one the
    request was checked against (then the database refused the write for another reason and
    nothing tells the client its copy is stale: rule 47's 503)."""
    model, pk = conflict.model, conflict.pk
    instance = checked.instance if checked is not None else None
    if model is None and isinstance(instance, VersionedModel):
        model, pk = type(instance), instance.pk
    current = current_version(model, pk)
    snapshot = (
        None if current is None else Snapshot.of_version(current.token, current.last_modified)
    )
    if conflict.reason != VersionConflict.DATABASE:
        return snapshot, False  # the compare-and-swap saw another version (or no row)
    checked_tag = checked.state.etag if checked is not None else None
    if current is None:
        return None, instance is None  # gone: 412; never existed (a create): 503
    return snapshot, checked_tag is not None and checked_tag.opaque == current.token


# --- The deferred guard: decided when the view writes the row --------------------------------

#: A lookup value that names no row (a malformed id in the URL): the view answers for it.
NO_MATCH: Final = object()
_WRITE_STATEMENTS: Final = ("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE")


@dataclass(frozen=True)
class DeferredTarget:
    """The row an adapter protects without loading it (the middleware): the model, and the
    field and value the URL names it by. ``model`` ``None``: a headers-only rule."""

    model: type[VersionedModel] | None
    lookup_attname: str = ""
    lookup_value: Any = NO_MATCH

    @property
    def by_pk(self) -> bool:
        return self.model is not None and self.lookup_attname == self.model._meta.pk.attname

    def alias(self) -> str:
        """The database the row is written to, where it is checked (rule 54)."""
        return router.db_for_write(self.model) if self.model is not None else DEFAULT_DB_ALIAS


class _Refused(Exception):
    """Raised inside the view's ``save()``/``delete()`` of the protected row: the request is
    refused (400, 412 or 428); the guard answers once the view's writes are rolled back."""


class _DeferredExpectation(VersionExpectation):
    """The expectation registered for the target row: its ``token`` is decided when the view
    first writes (``save()``/``delete()`` of the row read it just before the compare-and-swap)."""

    def __init__(self, guard: DeferredGuard) -> None:
        assert guard.target.model is not None
        self._guard = guard
        super().__init__(model=guard.target.model, pk=None, token="", using=guard.alias)

    def matches(self, instance: models.Model, using: str | None = None) -> bool:
        if using is not None and using != self.using:
            return False
        if version_root(type(instance)) is not self.root:
            return False  # any class of the row: a proxy, a parent or a child (rule 53)
        pk = self._guard.target_pk()
        return pk is not NO_MATCH and instance.pk == pk

    @property
    def pk(self) -> Any:
        """The row's primary key: from the URL, or from the instance the view loaded."""
        pk = self._guard.target_pk()
        return None if pk is NO_MATCH else pk

    @pk.setter
    def pk(self, value: Any) -> None:
        pass  # decided by the guard

    @property
    def token(self) -> str | None:
        guard = self._guard
        if not guard.decided:
            guard.decide_write()  # sets the token, or raises the refusal
        guard.row_write_pending = not self.written
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value


class DeferredGuard:
    """One request's enforcement when the adapter must not read the row before the view
    (the middleware: the view's own access control and method dispatch answer first, rules
    12 and 13). The same steps as :class:`Guard`, at the moments the view allows:

    - :meth:`open` before the view: watch what it loads (``from_db``) and, for an unsafe
      request, what it writes (``execute_wrapper``), and expect a version for the target row;
    - the view's **first write** (the row's ``save()``/``delete()``, or any other statement):
      :meth:`decide_write` evaluates the preconditions against the row as the view loaded it
      on the write database (else as stored there). A refusal (400, 412, 428) is raised
      before anything is written, and every later write of the request is refused too;
      otherwise the row's write is the compare-and-swap against that version (rule 44);
    - when the view writes something else before the row, the guard opens a transaction
      right then (unless one is open: ``ATOMIC_REQUESTS``, the view's own), so that a lost
      race rolls that back too (rule 51); a view whose only write is the row's
      compare-and-swap runs without one;
    - :meth:`finish` after the view: the validators, or a read's 304; :meth:`fail` answers
      the refusal or a lost race the view raised (412, or 503: rule 47).
    """

    def __init__(
        self, enforcer: Enforcer, request: HttpRequest, policy: Policy, target: DeferredTarget
    ) -> None:
        self.enforcer = enforcer
        self.request = request
        self.policy = policy
        self.target = target
        self.unsafe = request.method not in SAFE_METHODS
        # Where the row is written and checked (rule 54); a read is judged by what it loaded.
        self.alias = target.alias() if self.unsafe else DEFAULT_DB_ALIAS
        #: (instance, version token, last_modified) as loaded, the last few of the row.
        self.loads: list[tuple[VersionedModel, str, datetime.datetime | None]] = []
        self.expectation: _DeferredExpectation | None = None
        self.decided = False
        self.checked: str | None = None  # the version the preconditions were checked against
        self.refused: Decision | None = None
        self.refused_response: HttpResponse | None = None
        self.failed = False
        self.row_write_pending = False
        self.transaction: Any = None  # the atomic block opened at a write before the row's
        self._watching: Any = None  # the execute_wrapper context
        self._deciding = False
        self._rollback_flag: bool | None = None  # of a transaction open around the view
        self._previous_observer: Callable[[VersionedModel], None] | None = None

    # -- what the view loads and writes --

    def saw(self, instance: VersionedModel) -> None:
        """An instance loaded from the database while the view runs (``from_db``)."""
        target = self.target
        if not isinstance(instance, target.model):  # type: ignore[arg-type]
            return
        values = instance.__dict__
        if VERSION_FIELD in values and values.get(target.lookup_attname, NO_MATCH) == (
            target.lookup_value
        ):
            self.loads.append((instance, values[VERSION_FIELD], values.get(MODIFIED_FIELD)))
            del self.loads[:-4]  # bounded: a view loading the row in a loop

    @property
    def loaded(self) -> VersionedModel | None:
        """The last instance of the target row the view loaded from the database."""
        return self.loads[-1][0] if self.loads else None

    def target_pk(self) -> Any:
        if self.target.by_pk:
            return self.target.lookup_value
        loaded = self.loaded
        return loaded.pk if loaded is not None else NO_MATCH

    def observe(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """``execute_wrapper`` on the write database: the view's first write decides; a write
        before the row's opens the transaction a lost race rolls back."""
        if self._deciding or not sql.lstrip()[:7].upper().startswith(_WRITE_STATEMENTS):
            return execute(sql, params, many, context)
        if self.refused is not None:
            raise _Refused(self.refused.status)  # also after a view swallowed the refusal
        if not self.decided:
            self.decide_write()
        if self.row_write_pending:
            self.row_write_pending = False  # the row's own write: one statement, or a savepoint
        elif (
            self.transaction is None
            and self.expectation is not None
            and not self.expectation.written
            and not connections[self.alias].in_atomic_block
        ):
            self.transaction = transaction.atomic(using=self.alias)
            self.transaction.__enter__()
        return execute(sql, params, many, context)

    # -- decisions --

    def stored_version(self) -> tuple[str, datetime.datetime | None] | None:
        """The row's version and time: as the view loaded it on the write database in this
        request (no second read: the compare-and-swap still catches a change since), else
        read there (rule 54)."""
        pk = self.target_pk()
        for instance, token, modified in reversed(self.loads):
            if instance._state.db == self.alias and (pk is NO_MATCH or instance.pk == pk):
                return token, modified
        target = self.target
        if target.model is None:
            return None
        if pk is not NO_MATCH:
            lookup = {"pk": pk}
        elif target.lookup_value is not NO_MATCH:
            lookup = {target.lookup_attname: target.lookup_value}
        else:
            return None
        row = (
            target.model._base_manager.using(self.alias)
            .filter(**lookup)
            .values_list(VERSION_FIELD, MODIFIED_FIELD)
            .first()
        )
        return (str(row[0]), row[1]) if row else None

    def decide_write(self) -> None:
        """The view writes: evaluate the preconditions against the row's version and keep the
        token the row's compare-and-swap must find (``None``: a write of the row must create
        it, an INSERT that fails on conflict, rule 50); raise :class:`_Refused` otherwise.
        A headers-only rule has no row: the headers are judged on their own."""
        self._deciding = True
        try:
            if self.target.model is None:
                snapshot = None
            else:
                row = self.stored_version()
                snapshot = Snapshot.of_version(*row) if row else Snapshot.absent()
            decision = self.enforcer.decide(self.request, snapshot, self.policy)
        finally:
            self._deciding = False
        if not decision.proceeds:
            self.refused = decision
            raise _Refused(decision.status)
        self.decided = True
        self.checked = None if snapshot is None or not snapshot.state.exists else row[0]  # type: ignore[index]
        if self.expectation is not None:
            self.expectation.token = self.checked

    def settle(self, response: HttpResponse) -> HttpResponse:
        """The response after the view: its own, with validators, or a refusal."""
        if self.refused is not None:
            return self.refusal()
        enforcer = self.enforcer
        if not self.unsafe:
            if response.status_code != 200 or not self.loads:
                return response
            snapshot = Snapshot.of_version(*self.loads[-1][1:])
            decision = enforcer.decide(self.request, snapshot, self.policy)
            if not decision.proceeds:
                return self.refuse(decision, snapshot)
            return enforcer.finish(self.request, response, snapshot, None)
        if self.expectation is not None and self.expectation.written:
            return enforcer.finish(self.request, response, Snapshot.absent(), self.expectation)
        # A view that wrote was judged at its first write. One that refused the body of a
        # request for the row it loaded (rule 11) is judged now: a stale precondition wins.
        loaded = self.loaded
        if self.decided or loaded is None or response.status_code not in (400, 422):
            return response
        known = Snapshot.of_instance(loaded)
        decision = enforcer.decide(self.request, known, self.policy)
        if decision.proceeds:
            return response
        return self.refuse(decision, known)

    def refuse(self, decision: Decision, snapshot: Snapshot) -> HttpResponse:
        response = self.enforcer.refusal(self.request, decision, snapshot, self.policy)
        assert response is not None
        return response

    def refusal(self) -> HttpResponse:
        """The answer to a write refused by the preconditions, with the row's current version
        read after the view's writes are rolled back: outside the transaction's snapshot, so
        the latest committed one also under REPEATABLE READ (rule 55)."""
        assert self.refused is not None
        if self.refused_response is None:
            self.rollback_now()
            if self._rollback_flag is not None and connections[self.alias].in_atomic_block:
                # Refused before any statement of the write ran: the transaction around the
                # view is intact; undo the "needs rollback" mark Django set when the refusal
                # left save().
                transaction.set_rollback(self._rollback_flag, using=self.alias)
            pk = self.target_pk()
            current = current_version(self.target.model, None if pk is NO_MATCH else pk)
            snapshot = (
                Snapshot.absent()
                if current is None
                else Snapshot.of_version(current.token, current.last_modified)
            )
            self.refused_response = self.refuse(self.refused, snapshot)
        return self.refused_response

    def rollback_now(self) -> None:
        """Roll back the transaction the guard opened before answering a refusal or a lost
        race (rule 51; the current version is then read fresh: rule 55)."""
        self._close_transaction(rollback=True)

    def conflict(self, exception: BaseException) -> HttpResponse | None:
        """A write that lost the race inside the view: 412 with the current version, or 503
        when the database refused a write whose row did not change (rules 44, 47, 55)."""
        conflict = conflict_from(exception)
        if conflict is None:
            return None
        self.rollback_now()
        checked = Snapshot.of_version(self.checked, None) if self.checked is not None else None
        method = self.request.method or "PUT"
        passed = Decision(
            Outcome.PROCEED,
            Reason.PRECONDITIONS_PASSED,
            method,
            requirement=self.policy.requirement,
        )
        return self.enforcer.answer_conflict(self.request, self.policy, passed, conflict, checked)

    # -- life cycle --

    def open(self) -> None:
        """Before the view: watch what it loads and, for an unsafe request, what it writes,
        with the row's expectation registered."""
        if self.target.model is not None:
            self._previous_observer = observe_loads(self.saw)
        if self.unsafe:
            if self.target.model is not None:
                self.expectation = register_expectation(_DeferredExpectation(self))
            connection = connections[self.alias]
            if connection.in_atomic_block:
                self._rollback_flag = transaction.get_rollback(using=self.alias)
            self._watching = connection.execute_wrapper(self.observe)
            self._watching.__enter__()

    def fail(self, exception: BaseException) -> HttpResponse | None:
        """The view raised: the refusal, a lost race answered, or ``None`` (not ours)."""
        self.failed = True
        if isinstance(exception, _Refused):
            return self.refusal()
        return self.conflict(exception)

    def finish(self, response: HttpResponse | None) -> HttpResponse | None:
        """Settle the response and commit, or roll back a refused or failed request
        (``response`` ``None``: the request is abandoned). The guard's transaction is always
        closed, also when settling raises."""
        if response is None:
            self.failed = True
        final: HttpResponse | None = None
        try:
            final = self.settle(response) if response is not None else None
        except BaseException:
            self.failed = True
            raise
        finally:
            final = self._close(response, final)
        return final

    def _close_transaction(self, *, rollback: bool) -> None:
        pending, self.transaction = self.transaction, None
        if pending is not None:
            if rollback:
                transaction.set_rollback(True, using=self.alias)
            pending.__exit__(None, None, None)

    def _close(self, response: HttpResponse | None, final: HttpResponse | None) -> Any:
        try:
            rollback = self.failed or final is None or final is not response
            try:
                self._close_transaction(rollback=rollback)
            except DatabaseError as exc:  # e.g. a serialization failure at COMMIT
                answer = self.conflict(exc)
                if answer is None:
                    raise
                final = answer
            return final
        finally:
            self.transaction = None
            watching, self._watching = self._watching, None
            if watching is not None:
                watching.__exit__(None, None, None)
            if self.expectation is not None:
                pop_expectation(self.expectation)
            if self.target.model is not None:
                observe_loads(self._previous_observer)
