"""What every adapter does around a view, written once.

An adapter loads the target and describes it as a :class:`Snapshot`; :meth:`Enforcer.begin`
then resolves the policy, decides (:func:`~django_preconditions.conditions.evaluate`) and
builds the refusal (304, 400, 412 or 428) when the request must not reach the view, and
returns a :class:`Guard`. :meth:`Enforcer.guarded` runs both — the adapter's load and
``begin()``, then the view — inside the request transaction, with the expected version
registered, so the view's own ``save()``/``delete()`` is the compare-and-swap; a lost race
becomes 412 (or 503, rule 47); success gets the validators.
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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from asgiref.sync import sync_to_async
from django.db import DatabaseError, models
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.utils.http import http_date

from ._compat import write_alias
from ._frozen import quick_init
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
    VersionedModel,
    VersionExpectation,
    expect_creation,
    http_timestamp,
    pop_expectation,
    push_instance_expectation,
    served_timestamp,
    stored_timestamp,
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
from .transactions import (
    Aftermath,
    OtherWrites,
    aftermath,
    current_version,
    mark_retryable,
    request_transaction,
)

if TYPE_CHECKING:
    from .deferred import DeferredGuard, DeferredTarget

__all__ = [
    "Enforcer",
    "Guard",
    "PreconditionContext",
    "Snapshot",
    "set_validators",
]


@quick_init
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
    def current(
        cls, model: type[models.Model] | None, pk: Any, using: str | None = None
    ) -> Snapshot | None:
        """The row as committed now, read on the database it is written to (``using``, by
        default the router's write database: rule 54), outside the request's rolled-back
        transaction (rule 55); ``None`` when there is no such row."""
        row = current_version(model, pk, using)
        return None if row is None else cls.of_version(row.token, row.last_modified)

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
    """Put ``instance``'s ``ETag`` and ``Last-Modified`` (unless its model has none) on
    ``response`` (e.g. after creating it in a view). Existing headers are kept unless
    ``force``."""
    values = {ETAG: instance.etag, LAST_MODIFIED: instance.last_modified_http}
    for name, value in values.items():
        if value is not None and (force or not response.has_header(name)):
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
        it answered): see :class:`~django_preconditions.deferred.DeferredGuard`. Call its
        ``open()`` before the view."""
        return _deferred_guard_class()(self, request, policy, target)

    # -- around the view --

    def expectation_for(self, request: HttpRequest, snapshot: Snapshot) -> tuple[Any, str] | None:
        """(model, pk) and the token the view's write must find, for unsafe methods."""
        instance = snapshot.instance
        if request.method in SAFE_METHODS or not isinstance(instance, VersionedModel):
            return None
        return instance, instance.version_token

    def guarded(
        self,
        request: HttpRequest,
        begin: Callable[[], Guard | HttpResponse | None],
        call: Callable[[Guard | None], HttpResponse],
    ) -> HttpResponse:
        """Load the object and decide (``begin``: the :class:`Guard`, the response that
        replaces the view, or ``None`` for a method that is not evaluated), then call the view
        (``call``) — all inside the request transaction (see :mod:`.transactions`): the object
        is read where the view writes it, and a ``select_for_update()`` lookup keeps its lock
        until COMMIT. A refusal rolls back. A lost race or a database conflict — raised by a
        statement or by the COMMIT — rolls the view's writes back and is answered by
        :meth:`answer_conflict` afterwards (rules 47, 51, 55)."""
        block = request_transaction(self.transaction_view)
        others = OtherWrites(block.aliases, may_write=request.method not in SAFE_METHODS)
        guard: Guard | None = None
        protection: _Protection | None = None
        try:
            try:
                with others, block:
                    started = begin()
                    if started is None:
                        return call(None)  # not evaluated (rule 14)
                    if isinstance(started, HttpResponseBase):
                        block.roll_back()
                        return started
                    guard = started
                    if guard.refused is not None:
                        block.roll_back()
                        return guard.refused
                    protection = self.protecting(
                        request, guard.snapshot, guard.policy, guard.decision
                    )
                    protection.__enter__()
                    response = call(guard)
            finally:
                # The expectation outlives the COMMIT: a save in a transaction.on_commit()
                # callback is followed too, and the response names the version it left
                # (rule 52).
                if protection is not None:
                    protection.__exit__(None, None, None)
        except (VersionConflict, DatabaseError) as exc:
            conflict = conflict_from(exc)
            if conflict is None or guard is None or protection is None:
                raise
            after = conflict_aftermath(
                conflict,
                guard.snapshot,
                protection.context.expectation,
                rolled_back=others.rolled_back(conflict.using),
            )
            return self.answer_conflict(
                request, guard.policy, guard.decision, conflict, guard.snapshot, after
            )
        # The view ran (every other way out returned above).
        assert guard is not None
        assert protection is not None
        return self.finish(request, response, guard.snapshot, protection.context.expectation)

    async def arun(
        self,
        request: HttpRequest,
        snapshot: Snapshot,
        policy: Policy,
        decision: Decision,
        call: Callable[[], Awaitable[HttpResponse]],
    ) -> HttpResponse:
        protection = self.protecting(request, snapshot, policy, decision)
        try:
            with protection as context:
                response = await call()
        except (VersionConflict, DatabaseError) as exc:
            conflict = conflict_from(exc)
            if conflict is None:
                raise
            expectation = protection.context.expectation

            def answer() -> HttpResponse:
                # Django opens no request transaction around an async view.
                after = conflict_aftermath(conflict, snapshot, expectation, rolled_back=False)
                return self.answer_conflict(request, policy, decision, conflict, snapshot, after)

            return await sync_to_async(answer)()
        # In a thread, like every other step that may use the ORM: finish() reads the stored
        # version when a GET saved the row it serves, or when a write's on_commit mark did
        # not run (rules 39, 41, 52); on the event loop Django refuses the query.
        return await sync_to_async(self.finish)(request, response, snapshot, context.expectation)

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

    def protecting(
        self, request: HttpRequest, snapshot: Snapshot, policy: Policy, decision: Decision
    ) -> _Protection:
        """While the view runs: ``request.preconditions`` is set and, for unsafe methods, the
        loaded version is expected by any save/delete of the row (the compare-and-swap)."""
        return _Protection(self, request, snapshot, policy, decision)

    def conflict_error(
        self,
        request: HttpRequest,
        policy: Policy,
        decision: Decision,
        conflict: VersionConflict,
        checked: Snapshot | None,
        *,
        method: str | None = None,
        aftermath: Aftermath = Aftermath.ROLLED_BACK,
    ) -> tuple[PreconditionError, Decision | None]:
        """The answer to a write refused by the compare-and-swap or by the database (rules 44,
        47, 50, 55), once the request's transaction is rolled back: the error, and the 412's
        decision — or ``None`` for a 503 with ``Retry-After``.

        The row's current version is read now, on the write database: 412 with it when it is
        not the version the request was checked against (``checked``), or the row is gone
        (a create-only write that found the row created meanwhile: rule 50); 503 when the
        database refused the write although the row did not change (a serialization failure
        or deadlock over something else): nothing was applied, and the same request may
        simply be sent again — when its transaction was rolled back (``aftermath``; see
        :class:`~django_preconditions.transactions.Aftermath` for the other cases).
        """
        if aftermath is Aftermath.ROW_WRITTEN:
            # The request's own write of the row stands: not a lost race (rule 52).
            return retry_later_error(request, policy, aftermath), None
        current, unchanged = conflict_outcome(conflict, checked)
        method = method or request.method
        if unchanged or (conflict.reason == VersionConflict.DATABASE and method in SAFE_METHODS):
            return retry_later_error(request, policy, aftermath), None
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
        aftermath: Aftermath = Aftermath.ROLLED_BACK,
    ) -> HttpResponse:
        """:meth:`conflict_error`, rendered (the 412 announced like any refusal); a 503 is
        run again only when everything the request wrote was rolled back."""
        error, failed = self.conflict_error(
            request, policy, decision, conflict, checked, aftermath=aftermath
        )
        response = render(request, error, policy)
        if failed is None:
            return mark_retryable(response) if aftermath is Aftermath.ROLLED_BACK else response
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
    """Validators on success (rules 39-41): the new ones after a write, the loaded ones on
    GET/HEAD and an unchanged PUT/PATCH; none after a delete, nor on a 201 or a POST that did
    not write the row: such a response represents another resource (a copy it created), to
    which the row's ETag does not belong."""
    status = response.status_code
    if not 200 <= status < 300 or (status == 201 and snapshot.instance is not None):
        return response
    if expectation is not None and expectation._writes:
        expectation.settle()  # a write the view's own rollback took back names nothing
    if expectation is not None and expectation.written:
        # Not after a DELETE, also one that archived the row instead (a soft delete): the
        # client asked for the resource to go (rule 41).
        if not expectation.deleted and request.method != "DELETE":
            response.headers[ETAG] = expectation.etag
            served = http_timestamp(expectation.last_modified)
            if served is not None:  # None: a model without last_modified
                response.headers[LAST_MODIFIED] = _http_date(served)
        return response
    if request.method in _NO_VALIDATORS or (
        snapshot.etag is None and snapshot.last_modified is None
    ):
        return response
    instance, loaded = snapshot.instance, snapshot.state.etag
    if (
        request.method in SAFE_METHODS
        and isinstance(instance, VersionedModel)
        and loaded is not None
        and instance.version_token != loaded.opaque
        and not response.has_header(ETAG)
    ):
        snapshot = version_served_after_save(instance, snapshot, loaded.opaque)
    if snapshot.etag is not None and not response.has_header(ETAG):
        response.headers[ETAG] = snapshot.etag
    if snapshot.last_modified is not None and not response.has_header(LAST_MODIFIED):
        response.headers[LAST_MODIFIED] = _http_date(snapshot.last_modified)
    return response


def version_served_after_save(
    instance: VersionedModel, loaded: Snapshot, loaded_token: str
) -> Snapshot:
    """What a GET that saved the row it serves (a view counter) names: the version its save
    wrote, which the client's next If-Match must name (rules 39, 41) — unless the save was
    rolled back (an ``atomic()`` block the view left with an error), which one read of the
    stored token tells: then the version loaded. Never the stored version as such: a rival
    may have written after this save, and its ETag must not label this body (rule 44).
    One query, only on this path."""
    stored = current_version(
        type(instance), instance.pk, write_alias(type(instance), instance=instance)
    )
    if stored is not None and stored.token == loaded_token:
        return loaded
    return Snapshot.of_instance(instance)


#: Methods whose success, when the row was not written, carries none of its validators.
_NO_VALIDATORS: Final = frozenset({"DELETE", "POST"})


@functools.lru_cache(maxsize=512)
def _http_date(timestamp: int | None) -> str:
    """``Last-Modified`` text: formatted once per second value, not on every response."""
    return http_date(timestamp)


_CONDITIONAL_META: Final = tuple((meta_key(name), name) for name in CONDITIONAL_HEADERS)


def conditional_headers(request: HttpRequest) -> dict[str, str]:
    """The request's conditional headers, read from ``request.META`` (an empty dict for most
    requests): ``request.headers`` would first copy every header of the request."""
    meta = request.META
    found: dict[str, str] = {}
    for key, name in _CONDITIONAL_META:  # a loop: a comprehension is one more call
        if key in meta:
            found[name] = meta[key]
    return found


@functools.cache
def _deferred_guard_class() -> type[DeferredGuard]:
    """:class:`~django_preconditions.deferred.DeferredGuard`, imported on first use (its module
    builds on this one) and then remembered: no import statement on every request."""
    from .deferred import DeferredGuard

    return DeferredGuard


class _Protection:
    """The context manager :meth:`Enforcer.protecting` returns: a class rather than a
    generator-based one, since it runs on every protected request."""

    __slots__ = ("_creation", "_expectation", "context", "enforcer", "request", "snapshot")

    def __init__(
        self,
        enforcer: Enforcer,
        request: HttpRequest,
        snapshot: Snapshot,
        policy: Policy,
        decision: Decision,
    ) -> None:
        self.enforcer, self.request, self.snapshot = enforcer, request, snapshot
        self.context = PreconditionContext(snapshot.instance, policy, decision)
        self._expectation: VersionExpectation | None = None
        self._creation: contextlib.AbstractContextManager[VersionExpectation] | None = None

    def __enter__(self) -> PreconditionContext:
        request, snapshot, context = self.request, self.snapshot, self.context
        request.preconditions = context  # type: ignore[attr-defined]
        if request.method in SAFE_METHODS:
            return context
        target = self.enforcer.expectation_for(request, snapshot)
        if target is not None:
            instance, token = target
            # expect_version() without its generator: this runs on every protected write.
            expectation = push_instance_expectation(instance, token)
            self._expectation = context.expectation = expectation
        elif snapshot.creation is not None:
            model, field, value = snapshot.creation
            self._creation = expect_creation(model, value, field=field)
            context.expectation = self._creation.__enter__()
        return context

    def __exit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> bool | None:
        if self._expectation is not None:
            pop_expectation(self._expectation)
        elif self._creation is not None:
            return self._creation.__exit__(exc_type, exc, traceback)
        return None


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

    async def arun(self, call: Callable[[], Awaitable[HttpResponse]]) -> HttpResponse:
        return await self.enforcer.arun(
            self.request, self.snapshot, self.policy, self.decision, call
        )

    def not_found(self) -> HttpResponse:
        return self.enforcer.not_found(self.request, self.policy)


def not_modified(snapshot: Snapshot) -> HttpResponse:
    """304 with the validators the 200 would carry (rule 28); the view never runs."""
    response = HttpResponseNotModified()
    for name, value in not_modified_headers(snapshot).items():
        response.headers[name] = value
    return response


#: Headers of a 200 that its 304 repeats (RFC 9110 §15.4.5), as Django's own 304 does.
_REPEATED_ON_304: Final = ("Cache-Control", "Content-Location", "Date", "Expires", "Vary")


def not_modified_instead_of(response: HttpResponse, snapshot: Snapshot) -> HttpResponse:
    """:func:`not_modified`, replacing a 200 the view already answered (the middleware decides
    a read after the view): with the headers and cookies of that 200 a 304 repeats (rule 28)."""
    answer = not_modified(snapshot)
    for name in _REPEATED_ON_304:
        if name in response:
            answer.headers[name] = response.headers[name]
    answer.cookies = response.cookies
    return answer


def not_modified_headers(snapshot: Snapshot) -> dict[str, str]:
    """The headers of :func:`not_modified`'s 304, for adapters that build their own response
    class (DRF)."""
    headers: dict[str, str] = {}
    if snapshot.etag is not None:
        headers[ETAG] = snapshot.etag
    if snapshot.last_modified is not None:
        headers[LAST_MODIFIED] = _http_date(snapshot.last_modified)
    return headers


def conflict_aftermath(
    conflict: VersionConflict,
    checked: Snapshot | None,
    expectation: VersionExpectation | None,
    *,
    rolled_back: bool,
) -> Aftermath:
    """What remains of a request whose write was refused (:func:`.transactions.aftermath`),
    for every adapter. A conflict the driver raised without naming its database (a COMMIT
    that failed) is first given the one the checked row is written to, where its current
    version is read (rule 54) — never the router's default for the model."""
    instance = checked.instance if checked is not None else None
    if conflict.using is None and instance is not None:
        conflict.using = write_alias(type(instance), instance=instance)
    return aftermath(expectation, rolled_back=rolled_back)


def current_row(conflict: VersionConflict) -> Snapshot | None:
    """The row as it is now, for the 412 that reports a lost race (one query, only then),
    read on the database the write went to (rule 54)."""
    return Snapshot.current(conflict.model, conflict.pk, conflict.using)


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
    current = Snapshot.current(model, pk, conflict.using)
    if conflict.reason != VersionConflict.DATABASE:
        return current, False  # the compare-and-swap saw another version (or no row)
    if current is None:
        return None, instance is None  # gone: 412; never existed (a create): 503
    checked_tag = checked.state.etag if checked is not None else None
    current_tag = current.state.etag
    assert current_tag is not None
    return current, checked_tag is not None and checked_tag.opaque == current_tag.opaque
