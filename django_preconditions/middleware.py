"""``PreconditionMiddleware``: protection for views that are not protected in code.

Rules come from ``PRECONDITIONS["VIEWS"]`` and from admin rules
(:class:`~django_preconditions.models.ProtectedEndpoint`), matched by the resolved view's
namespaced URL name, dotted path or route. Precedence: code (decorator, mixin, DRF mixin) >
settings ``VIEWS`` > admin rules > global defaults — except that an admin rule can add
protected methods, never remove them. Views protected in code are left alone (never
evaluated twice).

Add it after authentication middleware, so 401/403 from the view come first::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django_preconditions.middleware.PreconditionMiddleware",
    ]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.apps import apps
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from .conditions import IGNORED_METHODS, SAFE_METHODS, Decision
from .dbconflicts import conflict_from
from .enforcement import Enforcer, PreconditionContext, Snapshot, current_row
from .models import VersionedModel, VersionExpectation, pop_expectation, push_expectation
from .policy import Policy, settings_entry, view_keys_for_request
from .rules import current_rules

__all__ = ["PreconditionMiddleware", "is_protected_in_code", "rule_for_keys"]

_STATE_ATTRIBUTE = "_preconditions_middleware_state"


def is_protected_in_code(view: Any) -> bool:
    """Whether the view enforces preconditions itself (decorator, CBV mixin, DRF mixin)."""
    for candidate in (view, getattr(view, "view_class", None), getattr(view, "cls", None)):
        if candidate is not None and getattr(candidate, "preconditions_protected", False):
            return True
    return False


def rule_for_keys(keys: tuple[str, ...]) -> tuple[dict[str, Any], str] | None:
    """The effective rule for a view from settings and admin rules, and where it came from
    (``"settings"``, ``"admin"`` or ``"settings+admin"``); ``None`` if neither names it.

    Settings win over admin rules for every key, but protected methods are the union of both:
    an admin rule can add protection, never remove it.
    """
    configured = settings_entry(keys)
    admin = current_rules().rule_for(keys)
    if configured is None and admin is None:
        return None
    if admin is None:
        return dict(configured or {}), "settings"
    if configured is None:
        return dict(admin), "admin"
    merged = {**admin, **configured}
    policy_methods = Policy.from_settings().methods
    configured_methods = configured.get("methods", policy_methods)
    merged["methods"] = tuple(
        sorted({str(m).upper() for m in (*configured_methods, *admin.get("methods", ()))})
    )
    # Mode too may only tighten: an admin rule can switch report to enforce, never back.
    mode = configured.get("mode", Policy.from_settings().mode)
    merged["mode"] = "enforce" if "enforce" in (mode, admin.get("mode")) else mode
    return merged, "settings+admin"


@dataclass
class _State:
    enforcer: Enforcer
    snapshot: Snapshot | None
    policy: Policy
    decision: Decision
    expectation: VersionExpectation | None


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

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        try:
            response = self.get_response(request)
            return self._finish(request, response)  # type: ignore[arg-type]
        finally:
            self._cleanup(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = await self.get_response(request)  # type: ignore[misc]
            return self._finish(request, response)
        finally:
            self._cleanup(request)

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
        if found is None:
            return None
        rule, _source = found
        enforcer = Enforcer(view_func)
        policy = Policy.from_settings().updated(**rule)
        snapshot: Snapshot | None = None
        model_label = rule.get("model")
        if model_label:
            instance = _load(rule, view_kwargs)
            if instance is None:
                return None  # the view answers for an absent object (rule 12)
            snapshot = Snapshot.of_instance(instance)
        decision = enforcer.decide(request, snapshot, policy)
        refusal = enforcer.refusal(request, decision, snapshot or Snapshot.absent(), policy)
        if refusal is not None:
            return refusal
        expectation = None
        if snapshot is not None and request.method not in SAFE_METHODS:
            target = snapshot.instance
            assert isinstance(target, VersionedModel)
            expectation = push_expectation(type(target), target.pk, target.version_token)
        request.preconditions = PreconditionContext(  # type: ignore[attr-defined]
            snapshot.instance if snapshot else None, policy, decision, expectation
        )
        setattr(
            request,
            _STATE_ATTRIBUTE,
            _State(enforcer, snapshot, policy, decision, expectation),
        )
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A write that lost the race inside the view: 412, never 500 (rules 44, 47)."""
        state: _State | None = getattr(request, _STATE_ATTRIBUTE, None)
        if state is None:
            return None
        conflict = conflict_from(exception)
        if conflict is None:
            return None
        return state.enforcer.conflict_response(
            request, state.policy, state.decision, conflict, current_row(conflict)
        )

    def _finish(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        state: _State | None = getattr(request, _STATE_ATTRIBUTE, None)
        if state is None or state.snapshot is None or response.status_code == 412:
            return response
        return state.enforcer.finish(request, response, state.snapshot, state.expectation)

    def _cleanup(self, request: HttpRequest) -> None:
        state: _State | None = getattr(request, _STATE_ATTRIBUTE, None)
        if state is not None and state.expectation is not None:
            pop_expectation(state.expectation)


def _load(rule: Mapping[str, Any], view_kwargs: dict[str, Any]) -> VersionedModel | None:
    """The rule's object for this request, or ``None`` when it does not exist."""
    model = apps.get_model(rule["model"])
    kwarg = rule["lookup_url_kwarg"]
    if kwarg not in view_kwargs:
        return None
    lookup = {rule.get("lookup_field", "pk"): view_kwargs[kwarg]}
    try:
        instance = model._default_manager.get(**lookup)
    except (model.DoesNotExist, ValueError, TypeError, ValidationError):
        return None
    return instance if isinstance(instance, VersionedModel) else None
