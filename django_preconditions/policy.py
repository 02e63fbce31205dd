"""Per-view policy: the global ``PRECONDITIONS`` defaults, overridden by the view's
``VIEWS`` entry, overridden by the arguments given in code (decorator or mixin).

Adapters resolve a view's policy once per view, action and route and keep it until the
``PRECONDITIONS`` setting changes (``override_settings`` sends ``setting_changed``, which
moves :func:`settings_generation`); admin rules, which change at run time, are applied to the
kept policy on every request (:func:`enforced_by_admin_rule`, nothing to do in enforce mode).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from functools import cached_property, partial
from typing import Any, Final

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest

from . import defaults
from .conditions import Requirement
from .conf import acceptable, conf, normalise_headers
from .defaults import ENFORCE, REPORT

__all__ = ["ENFORCE", "REPORT", "Policy", "view_keys_for_request"]


@dataclass(frozen=True)
class Policy:
    """Everything an adapter needs to enforce and render preconditions for one view."""

    methods: frozenset[str]
    required_headers: tuple[str, ...]
    allow_wildcard: bool
    weak_if_match: bool
    error_format: str | Callable[..., Any]
    include_current_etag: bool
    documentation_url: str | None
    json_detailed_headers: bool = False

    #: "enforce" or "report" (only the requirement is relaxed; anything but "report" enforces).
    mode: str = defaults.MODE

    @property
    def report_only(self) -> bool:
        return self.mode == REPORT

    @cached_property
    def requirement(self) -> Requirement:
        """Built once per policy (policies are remembered per view and route)."""
        return Requirement(
            methods=self.methods,
            accepted_headers=frozenset(self.required_headers),
            allow_wildcard=self.allow_wildcard,
            report_only=self.report_only,
        )

    @classmethod
    def from_settings(cls) -> Policy:
        """Each field from the setting of the same name in upper case."""
        return cls(**{name: getattr(conf, name.upper()) for name in POLICY_FIELDS})

    def updated(self, **overrides: Any) -> Policy:
        """A copy with the given (lower-case, ``VIEWS``-style) keys applied; ``None`` skips."""
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if value is None or key not in POLICY_FIELDS:
                continue
            if key in _LISTS and isinstance(value, Iterable) and not isinstance(value, str):
                value = tuple(value)  # code may give any iterable (a set, a generator)
            if not acceptable(key, value, f"the view setting {key!r}"):
                continue  # logged; the level below applies (never a coerced value)
            if key == "methods":
                value = frozenset(str(method).upper() for method in value)
            elif key == "required_headers":
                value = normalise_headers(value)
            changes[key] = value
        return replace(self, **changes) if changes else self

    @classmethod
    def resolve(cls, view_keys: Iterable[str] = (), **code_overrides: Any) -> Policy:
        """Global defaults < the first matching ``VIEWS`` entry < arguments given in code.

        Resolved once per view and remembered until the ``PRECONDITIONS`` setting changes
        (``override_settings`` sends ``setting_changed``): a request pays a dictionary
        look-up, not the merge."""
        keys = tuple(view_keys)
        return enforced_by_admin_rule(cls.resolve_base(keys, **code_overrides), keys)

    @classmethod
    def resolve_base(cls, keys: tuple[str, ...], **code_overrides: Any) -> Policy:
        """:meth:`resolve` before admin rules (which change at run time) are applied: it
        depends on the settings and the arguments only, so adapters may keep it per view."""
        try:
            given = sorted((k, _hashable(v)) for k, v in code_overrides.items() if v is not None)
            cache_key = (keys, tuple(given))
            cached = _resolved.get(cache_key)
        except TypeError:  # an unhashable override: resolve every time
            cache_key, cached = None, None
        if cached is not None:
            return cached
        policy = cls.from_settings()
        entry = settings_entry(keys)
        if entry:
            policy = policy.updated(**entry)
        policy = policy.updated(**code_overrides)
        if cache_key is not None:
            _resolved[cache_key] = policy
        return policy


_resolved: dict[Any, Policy] = {}
#: Policy keys whose value is a list of names.
_LISTS: Final = frozenset({"methods", "required_headers"})
_generation = 0


def settings_generation() -> int:
    """Changes whenever the ``PRECONDITIONS`` setting changes: adapters that remember a
    policy per view and route forget it when this moves."""
    return _generation


def route_key(request: HttpRequest) -> tuple[Any, ...]:
    """What :func:`view_keys_for_request` depends on: cheap to compute, hashable."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ()
    return (match.view_name, match.route, match.func)


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(value)
    hash(value)
    return value


@receiver(setting_changed)
def _forget_resolved_policies(*, setting: str, **kwargs: Any) -> None:
    global _generation
    if setting == "PRECONDITIONS":
        _resolved.clear()
        _generation += 1


#: The policy's keys, derived from the dataclass: ``VIEWS``-style (lower case) keys, the
#: settings of the same names in upper case, and the adapters' ``precondition_<key>``
#: attributes and arguments.
POLICY_FIELDS: Final = frozenset(field.name for field in fields(Policy))
#: The keys of the ``PRECONDITIONS`` block; anything else is a typo (check E002).
SETTING_KEYS: Final = frozenset(
    {name.upper() for name in POLICY_FIELDS} | {"VIEWS", "RULES_REFRESH_INTERVAL"}
)
#: The keys of a ``VIEWS`` entry (check E011): the policy's (the documentation URL is global)
#: and the middleware's target.
VIEW_KEYS: Final = (POLICY_FIELDS - {"documentation_url"}) | {
    "model",
    "lookup_url_kwarg",
    "lookup_field",
}


def attribute_overrides(owner: Any) -> dict[str, Any]:
    """The policy keys a view class sets as ``precondition_<key>`` attributes (``None``:
    the settings)."""
    return {name: getattr(owner, f"precondition_{name}", None) for name in POLICY_FIELDS}


def enforced_by_admin_rule(policy: Policy, view_keys: Iterable[str]) -> Policy:
    """A report-mode policy switched to enforce by an admin rule for the view (an admin rule
    may move an endpoint from report to enforce, never back). Enforce mode costs nothing."""
    if policy.mode != REPORT:
        return policy
    from .rules import current_rules, rules_without_blocking

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        rules = current_rules()
    else:  # an async view: no query on the event loop
        rules = rules_without_blocking()
    rule = rules.rule_for(view_keys)
    if rule is not None and rule.get("mode") == ENFORCE:
        return replace(policy, mode=ENFORCE)
    return policy


def settings_entry(view_keys: Iterable[str]) -> Mapping[str, Any] | None:
    """The ``PRECONDITIONS["VIEWS"]`` entry for the first of ``view_keys`` that has one."""
    views = conf.VIEWS
    if not views:
        return None
    for key in view_keys:
        entry: Any = views.get(key)  # settings may hold anything (check E010)
        if entry is None:
            continue
        if not isinstance(entry, Mapping):
            # Check E010. Views protected in code keep their protection; a view only this
            # entry protects fails closed in the middleware (428 for unsafe methods).
            return {
                "broken": f"PRECONDITIONS['VIEWS'][{key!r}] is {type(entry).__name__}, not a "
                "dict (preconditions.E010)"
            }
        return entry
    return None


def dotted_path(obj: Any) -> str:
    """``module.qualname`` of a function or class, as written in ``VIEWS`` keys: of the
    function a ``functools.partial`` calls, and of the class of a callable instance (as
    Django names them in ``ResolverMatch``), not ``"functools."``."""
    while isinstance(obj, partial):
        obj = obj.func
    target = getattr(obj, "view_class", None) or getattr(obj, "cls", None) or obj
    if not hasattr(target, "__qualname__"):
        target = type(target)
    return f"{getattr(target, '__module__', '')}.{target.__qualname__}"


def view_keys_for_request(request: HttpRequest) -> tuple[str, ...]:
    """The keys a ``VIEWS`` entry may use for this request, most specific first:
    the namespaced URL name, the view's dotted path, then the route pattern."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ()
    keys: list[str] = []
    if match.view_name:
        keys.append(match.view_name)
    keys.append(dotted_path(match.func))
    if match.route:
        keys.append(match.route)
    return tuple(keys)


def mixin_comes_first(cls: type, mixin: type, base: type) -> bool:
    """Whether ``mixin`` precedes ``base`` in ``cls``'s method resolution order, so that its
    methods (``dispatch()``, ``initial()``, ``get_object()``) run rather than the base's: a
    class written ``class V(ModelViewSet, PreconditionMixin)`` is not protected."""
    order = cls.__mro__
    return base not in order or order.index(mixin) < order.index(base)


def view_handles(view: Any, method: str) -> bool:
    """Whether ``view``'s ``dispatch()`` finds a handler for ``method`` (else Django and DRF
    answer 405, before any precondition: rule 12)."""
    name = method.lower()
    return name in view.http_method_names and hasattr(view, name)
