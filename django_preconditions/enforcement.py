"""What every Django-side adapter does around a view, written once.

The decorators and the class-based-view mixin (and, later, the middleware) load the target,
describe it as a :class:`Snapshot`, and call :meth:`Enforcer.check` (evaluate, and answer 304,
400, 412 or 428 when the request must not reach the view) and :meth:`Enforcer.run` (call the
view with the expected version registered, so its own ``save()``/``delete()`` is the
compare-and-swap; turn a lost race into 412; set the new validators on success).
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError, models
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.http import http_date

from .conditions import (
    SAFE_METHODS,
    Decision,
    Outcome,
    ResourceState,
    evaluate,
)
from .dbconflicts import conflict_from
from .exceptions import VersionConflict
from .headers import EntityTag, format_entity_tag, parse_entity_tag
from .models import (
    MODIFIED_FIELD,
    VERSION_FIELD,
    VersionedModel,
    VersionExpectation,
    expect_version,
    http_timestamp,
    stored_timestamp,
)
from .policy import Policy, dotted_path, view_keys_for_request
from .reporting import report_unmet
from .responses import error_response, not_found_error, render

__all__ = ["Enforcer", "PreconditionContext", "Snapshot", "set_validators"]


@dataclass(frozen=True)
class Snapshot:
    """The target as read before the view runs."""

    state: ResourceState
    instance: models.Model | None = None
    etag: str | None = None  # header form, quotes included
    last_modified: int | None = None  # whole seconds since the epoch

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
        """Preconditions are evaluated against the stored second, which can be ahead of the
        clock after quick successive writes; the ``Last-Modified`` served is capped at now
        (rules 24 and 39). Comparing against the capped value would let a stale
        If-Unmodified-Since through."""
        return cls(
            state=ResourceState(
                exists=True, etag=EntityTag(token), last_modified=stored_timestamp(modified)
            ),
            instance=instance,
            etag=format_entity_tag(token),
            last_modified=http_timestamp(modified),
        )

    @classmethod
    def absent(cls) -> Snapshot:
        return cls(state=ResourceState(exists=False))

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
        return self.instance


def set_validators(
    response: HttpResponse, instance: VersionedModel, *, force: bool = False
) -> HttpResponse:
    """Put ``instance``'s ``ETag`` and ``Last-Modified`` on ``response`` (e.g. after creating
    it in a view). Existing headers are kept unless ``force``."""
    values = {"ETag": instance.etag, "Last-Modified": instance.last_modified_http}
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

    def policy(self, request: HttpRequest, *extra_keys: str) -> Policy:
        keys: Iterable[str] = (*view_keys_for_request(request), self.view_path, *extra_keys)
        return Policy.resolve(keys, **self.policy_overrides)

    # -- before the view --

    def decide(self, request: HttpRequest, snapshot: Snapshot | None, policy: Policy) -> Decision:
        """``snapshot`` is ``None`` when the current state is unknown (headers-only rules)."""
        decision = evaluate(
            request.method or "GET",
            request.headers,
            snapshot.state if snapshot is not None else None,
            policy.requirement,
            weak_if_match=policy.weak_if_match,
        )
        if decision.unmet is not None:  # report mode let a request without one through
            report_unmet(request, decision, view=self.view)
        return decision

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
        try:
            with self.protecting(request, snapshot, policy, decision) as context:
                response = call()
        except (VersionConflict, DatabaseError) as exc:
            conflict = conflict_from(exc)
            if conflict is None:
                raise
            return self.conflict_response(
                request, policy, decision, conflict, current_row(conflict)
            )
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
            current = await sync_to_async(current_row)(conflict)
            return self.conflict_response(request, policy, decision, conflict, current)
        return self.finish(request, response, snapshot, context.expectation)

    @contextlib.contextmanager
    def protecting(
        self, request: HttpRequest, snapshot: Snapshot, policy: Policy, decision: Decision
    ) -> Iterator[PreconditionContext]:
        """While the view runs: ``request.preconditions`` is set and, for unsafe methods, the
        loaded version is expected by any save/delete of the row (the compare-and-swap)."""
        context = PreconditionContext(snapshot.instance, policy, decision)
        request.preconditions = context  # type: ignore[attr-defined]
        target = self.expectation_for(request, snapshot)
        if target is None:
            yield context
            return
        instance, token = target
        with expect_version(type(instance), instance.pk, token) as expectation:
            context.expectation = expectation
            yield context

    def conflict_response(
        self,
        request: HttpRequest,
        policy: Policy,
        decision: Decision,
        conflict: VersionConflict,
        current: Snapshot | None,
    ) -> HttpResponse:
        """412 for a write that lost the race after the preconditions passed (rule 44)."""
        return error_response(
            request,
            decision.lost_race(),
            policy,
            view=self.view,
            current_etag=current.etag if current else None,
            last_modified=current.last_modified if current else None,
        )

    def finish(
        self,
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
                response.headers["ETag"] = expectation.etag
                response.headers["Last-Modified"] = http_date(
                    http_timestamp(expectation.last_modified)
                )
            return response
        if request.method == "DELETE" or (snapshot.etag is None and snapshot.last_modified is None):
            return response
        if snapshot.etag is not None and not response.has_header("ETag"):
            response.headers["ETag"] = snapshot.etag
        if snapshot.last_modified is not None and not response.has_header("Last-Modified"):
            response.headers["Last-Modified"] = http_date(snapshot.last_modified)
        return response


def not_modified(snapshot: Snapshot) -> HttpResponse:
    """304 with the validators the 200 would carry (rule 28); the view never runs."""
    response = HttpResponseNotModified()
    if snapshot.etag is not None:
        response.headers["ETag"] = snapshot.etag
    if snapshot.last_modified is not None:
        response.headers["Last-Modified"] = http_date(snapshot.last_modified)
    return response


def current_row(conflict: VersionConflict) -> Snapshot | None:
    """The row as it is now, for the 412 that reports a lost race (one query, only then)."""
    model = conflict.model
    if model is None or not issubclass(model, VersionedModel):
        return None
    try:
        row = (
            model._base_manager.filter(pk=conflict.pk)
            .values_list(VERSION_FIELD, MODIFIED_FIELD)
            .first()
        )
    except DatabaseError:  # e.g. the request's transaction is marked for rollback
        return None
    if row is None:
        return None
    token, modified = row
    return Snapshot.of_version(token, modified)
