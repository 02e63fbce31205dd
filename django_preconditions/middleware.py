"""``PreconditionMiddleware``: protection for views that are not protected in code.

Rules come from ``PRECONDITIONS["VIEWS"]`` and from admin rules
(:class:`~django_preconditions.models.ProtectedEndpoint`), matched by the resolved view's
namespaced URL name, dotted path or route. Views protected in code are left alone (never
evaluated twice). Settings win over admin rules, and an admin rule can only add protection
(``rules.rule_for_keys``).

The middleware decides **after** the view's own access control and method dispatch
(CONFORMANCE rules 12 and 13): it never reads the row itself before the view. The sequence is
the core's (:class:`~django_preconditions.deferred.DeferredGuard`): for a protected unsafe
request the preconditions are evaluated at the view's first write — its save or delete of
the rule's row, or any other write — against the row as the view loaded it; a refusal (428,
412, 400) is raised before anything is written, and the row's write is the compare-and-swap.
On GET/HEAD a 304 (or the ``ETag``) comes only from the row the view itself loaded, and only
when the view answered 200. A URL converter that hands the view the object names its row (it
counts as loaded by the view); a lookup value that names no row leaves the view to answer,
and any write it makes anyway is refused (428), never applied unchecked. This module only
finds the rule (once per route) and calls the guard from its hooks. docs/views.md says what a
view must do to be protected this way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse

from .conditions import IGNORED_METHODS, SAFE_METHODS
from .deferred import NO_MATCH, DeferredGuard, DeferredTarget, rule_not_applicable
from .enforcement import Enforcer, Snapshot, conditional_headers
from .models import VersionedModel, version_root
from .policy import Policy, route_key, settings_entry, settings_generation, view_keys_for_request
from .rules import ADMIN_RULE, RuleSnapshot, current_rules, rule_for_keys
from .transactions import keep_body, run_with_retries
from .validation import is_admin_view, lookup_field_problem

__all__ = ["PreconditionMiddleware", "is_protected_in_code", "rule_for_keys"]

logger = logging.getLogger("django_preconditions")

_STATE_ATTRIBUTE = "_preconditions_middleware_state"


def is_protected_in_code(view: Any) -> bool:
    """Whether the view enforces preconditions itself (decorator, CBV mixin, DRF mixin)."""
    for candidate in (view, getattr(view, "view_class", None), getattr(view, "cls", None)):
        if candidate is not None and getattr(candidate, "preconditions_protected", False):
            return True
    return False


# --- What a route's rule asks, resolved once per route --------------------------------------


@dataclass(frozen=True)
class _Protection:
    """A route's rule, resolved: the enforcer and policy, and how the URL names the row. A
    broken rule keeps its ``problem`` (unsafe requests fail closed, every time)."""

    keys: tuple[str, ...]
    enforcer: Enforcer | None = None
    policy: Policy | None = None
    model: type[VersionedModel] | None = None
    field: models.Field[Any, Any] | None = None
    kwarg: str = ""
    problem: str | None = None

    def guard(self, request: HttpRequest, view_kwargs: Mapping[str, Any]) -> DeferredGuard | None:
        """The guard for this request, ``None`` when the rule asks nothing of it; raises
        ``ImproperlyConfigured`` when the rule cannot be applied to it."""
        if self.policy is None or self.enforcer is None:
            raise ImproperlyConfigured(self.problem)
        method = request.method or "GET"
        safe = method in SAFE_METHODS
        # Nothing is required of a method the rule does not list, but a precondition it
        # carries must still hold before the method is performed (RFC 9110 §13.1.1): judged
        # against the row, as the other adapters do; without a row (or a working rule) nothing
        # can be.
        if (
            not safe
            and method not in self.policy.methods
            and (self.problem is not None or self.field is None or not conditional_headers(request))
        ):
            return None
        if self.problem is not None:
            raise ImproperlyConfigured(self.problem)
        field = self.field
        if field is None:
            if safe:
                return None  # headers only: nothing to say about a read
            return self.enforcer.begin_deferred(request, self.policy, DeferredTarget(None))
        kwarg = self.kwarg
        if kwarg not in view_kwargs:
            raise ImproperlyConfigured(f"the URL has no keyword argument {kwarg!r}")
        given = view_kwargs[kwarg]
        value = self.lookup_value(given)
        assert field.attname is not None
        target = DeferredTarget(self.model, field.attname, value)
        guard = self.enforcer.begin_deferred(request, self.policy, target)
        if isinstance(given, VersionedModel) and value is not NO_MATCH:
            guard.received(given)  # the row as a URL converter loaded it for the view
        return guard

    def lookup_value(self, given: Any) -> Any:
        """The value of the rule's lookup field that the URL keyword argument names, or
        ``NO_MATCH`` (the view answers for it; a write it makes anyway is refused). A URL
        converter may hand the view the object itself: an instance of the rule's row (any
        class sharing its version root: a proxy, multi-table inheritance, rule 53) names it
        by its primary key or lookup field; an instance of another model names no row (the
        field would take its ``str()``)."""
        field, model = self.field, self.model
        assert field is not None
        assert model is not None
        if isinstance(given, models.Model):
            if given.pk is None or version_root(type(given)) is not version_root(model):
                return NO_MATCH
            # Read without a query: a deferred field leaves the row unidentified.
            given = given.pk if field.primary_key else given.__dict__.get(field.attname, NO_MATCH)
            if given is NO_MATCH:
                return NO_MATCH
        try:
            return field.to_python(given)
        except (ValidationError, TypeError, ValueError):
            return NO_MATCH  # a malformed id: the view answers (usually 404)


def _resolve(view: Any, keys: tuple[str, ...], rule: Mapping[str, Any]) -> _Protection:
    """The rule as the middleware applies it. ``problem`` says why it cannot be applied: a
    broken rule or policy for every method, a model or lookup problem for the methods the
    rule protects."""
    try:
        if rule.get("broken"):
            raise ImproperlyConfigured(str(rule["broken"]))
        policy = Policy.from_settings().updated(**rule)
    except Exception as exc:
        return _Protection(keys, problem=str(exc))
    enforcer = Enforcer(view)
    label = rule.get("model")
    if not label:
        return _Protection(keys, enforcer, policy)
    try:
        model = apps.get_model(str(label))
        if not issubclass(model, VersionedModel):
            raise ImproperlyConfigured(f"{label} is not a VersionedModel")
        field_name = rule.get("lookup_field", "pk")
        # A field that is not unique cannot name one row (check E017): fail closed.
        problem = lookup_field_problem(model, field_name)
        if problem is not None:
            raise ImproperlyConfigured(str(problem))
        field = model._meta.pk if field_name == "pk" else model._meta.get_field(field_name)
        if not isinstance(field, models.Field):
            raise ImproperlyConfigured(f"{field_name!r} is not a field of {label}")
    except Exception as exc:
        return _Protection(keys, enforcer, policy, problem=str(exc))
    kwarg = str(rule.get("lookup_url_kwarg"))
    return _Protection(keys, enforcer, policy, model, field, kwarg)


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
    decision = rule_not_applicable(method)
    return Enforcer(view).refusal(request, decision, Snapshot.absent(), policy)


# --- The middleware -------------------------------------------------------------------------


class PreconditionMiddleware:
    """Enforce settings and admin rules around the resolved view (sync and async): one
    :class:`~django_preconditions.deferred.DeferredGuard` per protected request, opened
    in ``process_view`` and finished with the response."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        # Each route's rule, resolved once while the settings and the admin rules stay put.
        self._routes: dict[tuple[Any, ...], _Protection | None] = {}
        self._routes_for: tuple[int, RuleSnapshot] | None = None

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
        guard: DeferredGuard | None = getattr(request, _STATE_ATTRIBUTE, None)
        return response if guard is None else guard.finish(response)  # type: ignore[arg-type]

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        try:
            response = await self.get_response(request)  # type: ignore[misc]
        except BaseException:
            await sync_to_async(self._abandon, thread_sensitive=True)(request)
            raise
        guard: DeferredGuard | None = getattr(request, _STATE_ATTRIBUTE, None)
        if guard is None:
            return response  # type: ignore[no-any-return]
        # What the guard watches (and its transaction) is on the connection of the thread
        # that ran process_view: close it there. A read too: a refusal decided now (412 for
        # a stale If-Match on a GET) sends signals whose receivers may use the ORM, and
        # report mode reads the lazy request.user.
        finished = await sync_to_async(guard.finish, thread_sensitive=True)(response)
        return finished  # type: ignore[return-value]

    def protection(self, request: HttpRequest, view_func: Any) -> _Protection | None:
        """The rule for the request's route, resolved once per route until ``PRECONDITIONS``
        or the admin rules change: no policy merge, no rule look-up per request."""
        rules = current_rules()
        generation = settings_generation()
        known = self._routes_for
        if known is None or known[0] != generation or known[1] is not rules:
            self._routes = {}
            self._routes_for = (generation, rules)
        key = (*route_key(request), view_func)
        try:
            return self._routes[key]
        except KeyError:
            pass
        found = None
        keys: tuple[str, ...] = ()
        if not is_protected_in_code(view_func):
            keys = view_keys_for_request(request)
            found = rule_for_keys(keys)
        protection = None
        # Admin rules never apply to the admin site itself.
        if found is not None and not (found[1] == ADMIN_RULE and is_admin_view(view_func)):
            protection = _resolve(view_func, keys, found[0])
        self._routes[key] = protection
        return protection

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if request.method in IGNORED_METHODS:
            return None
        protection = self.protection(request, view_func)
        if protection is None:
            return None
        try:
            guard = protection.guard(request, view_kwargs)
        except Exception as exc:  # a broken rule fails closed, never 500
            return _fail_closed(request, view_func, protection.keys, str(exc))  # type: ignore[no-any-return]
        if guard is None:
            return None
        if guard.unsafe:
            keep_body(request)  # so that a run refused by the database can be replayed
        guard.open()
        setattr(request, _STATE_ATTRIBUTE, guard)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        guard: DeferredGuard | None = getattr(request, _STATE_ATTRIBUTE, None)
        return None if guard is None else guard.fail(exception)

    def _abandon(self, request: HttpRequest) -> None:
        guard: DeferredGuard | None = getattr(request, _STATE_ATTRIBUTE, None)
        if guard is not None:
            guard.finish(None)
