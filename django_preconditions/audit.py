"""The protection audit: which URL patterns accept unsafe methods, and what protects them.

One report, two front ends: ``manage.py preconditions_audit`` (a table or JSON, and a
non-zero exit for CI) and :func:`audit_admin_view` (a read-only admin page).

Which unsafe methods a pattern accepts is read from the view, without calling it:

- Django class-based views (``view.view_class``): the handlers defined among
  ``http_method_names`` (``as_view(http_method_names=...)`` included).
- DRF viewsets (``view.actions``): the methods the router mapped to actions; other DRF views
  (``view.cls``, ``@api_view`` too): their handlers, as for Django class-based views.
- Function views: unknown, reported as ``any``, unless a layer of the view was made by
  Django's ``require_http_methods`` (``require_GET``, ``require_POST``, ``require_safe``),
  found by following ``__wrapped__``; its method list is then used. Method checks written
  inside the function, or decorators that do not use ``functools.wraps``, are not seen.

Protection, in the order the middleware applies it: code (``require_preconditions`` →
``"decorator"``, ``PreconditionRequiredMixin`` → ``"class-based mixin"``, DRF
``PreconditionMixin`` → ``"DRF mixin"``), then a ``PRECONDITIONS["VIEWS"]`` entry
(``"settings"``), an admin rule (``"admin rule"``) or both (``"settings+admin"``) — the last
three only when ``PreconditionMiddleware`` is installed — else ``"none"``. The drop-in
``condition``/``etag``/``last_modified`` decorators (ours or Django's) evaluate preconditions
but never require them: such views are ``"none"``, with a note.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import ResolverMatch
from django.utils.module_loading import import_string
from django.utils.translation import gettext
from django.views.decorators import http as django_http

from ._compat import made_by_access_check, made_by_django_condition, require_http_methods_allowed
from .conditions import IGNORED_METHODS, SAFE_METHODS
from .conf import conf
from .defaults import PROTECTABLE_METHODS
from .enforcement import Enforcer
from .middleware import PreconditionMiddleware
from .policy import ENFORCE, REPORT, Policy, view_keys_for_request
from .reporting import reported_counts
from .rules import ADMIN_RULE, SETTINGS, SETTINGS_AND_ADMIN, RuleSource, rule_for_keys
from .urls_inventory import Endpoint, iter_endpoints

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite

__all__ = ["ANY", "PROTECTIONS", "AuditRow", "audit_admin_view", "build_report"]

#: The ``methods`` of a function view whose accepted methods cannot be known.
ANY: Final = "any"

DECORATOR: Final = "decorator"
CLASS_MIXIN: Final = "class-based mixin"
DRF_MIXIN: Final = "DRF mixin"
NONE: Final = "none"
#: Every value of :attr:`AuditRow.protection`: what code protects the view with, else where
#: its rule comes from (``rules.SETTINGS``, ``rules.ADMIN_RULE``, ``rules.SETTINGS_AND_ADMIN``).
PROTECTIONS: Final = (
    DECORATOR,
    CLASS_MIXIN,
    DRF_MIXIN,
    SETTINGS,
    ADMIN_RULE,
    SETTINGS_AND_ADMIN,
    NONE,
)

#: :attr:`AuditRow.mode` of a view whose methods have different modes.
MIXED: Final = "mixed"
_CODE: Final = (DECORATOR, CLASS_MIXIN, DRF_MIXIN)
_NOT_UNSAFE: Final = SAFE_METHODS | IGNORED_METHODS
_MIDDLEWARE_PATH: Final = "django_preconditions.middleware.PreconditionMiddleware"
_ADMIN_MODULES: Final = ("django.contrib.admin.sites", "django.contrib.admin.options")


@dataclass(frozen=True)
class AuditRow:
    """One URL pattern: what it accepts and what protects it."""

    route: str
    name: str | None
    view: str
    #: Unsafe methods the pattern accepts; ``("any",)`` when unknown, ``()`` when safe-only.
    methods: tuple[str, ...]
    protection: str
    #: Accepted methods that must carry a precondition under the effective policy.
    protected_methods: tuple[str, ...] = ()
    #: Headers that satisfy the requirement (any one of them).
    required_headers: tuple[str, ...] = ()
    note: str = ""
    #: "enforce", "report" (docs/rollout.md), "mixed" (per-method policies differ), or ""
    #: when no method is protected.
    mode: str = ""

    @property
    def unprotected(self) -> bool:
        """Accepts unsafe methods and nothing requires preconditions on them."""
        return self.protection == NONE and bool(self.methods)

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "name": self.name,
            "view": self.view,
            "methods": list(self.methods),
            "protection": self.protection,
            "protected_methods": list(self.protected_methods),
            "required_headers": list(self.required_headers),
            "note": self.note,
            "mode": self.mode or None,
        }


def build_report(
    urlconf: str | None = None, *, include_safe: bool = False, include_admin: bool = False
) -> list[AuditRow]:
    """One row per URL pattern of ``urlconf`` (the project's by default) that may accept an
    unsafe method, in URL order. ``include_safe`` adds safe-only patterns (``methods == ()``);
    ``include_admin`` adds the admin site's own patterns, left out by default because the
    admin protects what it needs itself (``VersionedModelAdmin``)."""
    middleware = middleware_installed()
    rows = []
    for endpoint in iter_endpoints(urlconf):
        if not include_admin and _is_admin_view(endpoint.view):
            continue
        row = _audit(endpoint, middleware)
        if row.methods or include_safe:
            rows.append(row)
    return rows


def enforced_by(view_key: str) -> str | None:
    """What enforces ``view_key`` in enforce mode, in code or settings (``None``: nothing):
    an admin rule cannot switch such an endpoint to report mode.

    A ``VIEWS`` entry counts under any key of the views ``view_key`` names (an admin rule on
    the URL name, an entry on the route), as the middleware finds it."""
    views = conf.VIEWS
    default_mode = Policy.from_settings().mode
    candidates = [(view_key,), *(e.keys for e in iter_endpoints() if view_key in e.keys)]
    for keys in candidates:
        key = next((key for key in keys if key in views), None)
        entry = views[key] if key is not None else None
        # An entry that is not a mapping is check E010's to report; the middleware refuses
        # writes to its view with 428 until it is fixed (enforced, not report mode).
        mode = entry.get("mode", default_mode) if isinstance(entry, Mapping) else ENFORCE
        if key is not None and mode != REPORT:
            return f"PRECONDITIONS['VIEWS'][{key!r}]"
    for row in build_report():
        named = view_key in (row.route, row.name, row.view)
        if named and row.protection in _CODE and row.mode in (ENFORCE, MIXED):
            return f"the {row.protection} of {row.view}"
    return None


def middleware_installed() -> bool:
    """Whether ``PreconditionMiddleware`` (or a subclass) is in ``MIDDLEWARE``: settings and
    admin rules protect nothing without it."""
    for entry in settings.MIDDLEWARE:
        middleware = PreconditionMiddleware if entry == _MIDDLEWARE_PATH else import_string(entry)
        if isinstance(middleware, type) and issubclass(middleware, PreconditionMiddleware):
            return True
    return False


# --- One endpoint --------------------------------------------------------------------------


def _audit(endpoint: Endpoint, middleware: bool) -> AuditRow:
    view = endpoint.view
    methods, protection, policy_for = _code_protection(endpoint)
    note = ""
    if protection is None:
        protection, policy_for, note = _rule_protection(endpoint, middleware)
    protected: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    mode = ""
    if protection is None or policy_for is None:
        protection = NONE
    else:
        protected, headers = _protected(methods, policy_for)
        modes = {policy_for(method).mode for method in protected}
        mode = modes.pop() if len(modes) == 1 else (MIXED if modes else "")
    if protection == DECORATOR and _checks_access_inside(view):
        note = gettext(
            "require_preconditions is applied outside login_required/permission_required: a "
            "caller the view would refuse gets 428/412 with the row's ETag. Put the access "
            "decorators outside (above) it."
        )
    if not note and protection == NONE and is_condition_only(view):
        note = gettext(
            "condition/etag/last_modified evaluate the preconditions a client sends but "
            "never require them: use require_preconditions, a mixin, or a rule."
        )
    return AuditRow(
        route=endpoint.route,
        name=endpoint.name,
        view=endpoint.view_path,
        methods=(ANY,) if methods is None else methods,
        protection=protection,
        protected_methods=protected,
        required_headers=headers,
        note=note,
        mode=mode,
    )


def protected_in_code(endpoint: Endpoint) -> bool:
    """Whether the view is protected in code (DRF mixin, class-based mixin, decorator),
    read from the views' markers only: no policy, no database."""
    view = endpoint.view
    for view_class in (getattr(view, "cls", None), getattr(view, "view_class", None)):
        if isinstance(view_class, type) and getattr(view_class, "preconditions_protected", False):
            return True
    return any(getattr(layer, "preconditions_protected", False) for layer in _layers(view))


def _code_protection(
    endpoint: Endpoint,
) -> tuple[tuple[str, ...] | None, str | None, Callable[[str], Policy] | None]:
    """The view's methods, and the protection written in code (DRF mixin, class-based mixin,
    decorator) with its policy per method."""
    view = endpoint.view
    drf_class = getattr(view, "cls", None)
    view_class = getattr(view, "view_class", None)
    probe = _probe_request(endpoint)
    methods: tuple[str, ...] | None
    if isinstance(drf_class, type):
        methods = _drf_methods(view, drf_class)
        if getattr(drf_class, "preconditions_protected", False):
            return methods, DRF_MIXIN, _drf_policies(view, drf_class, probe)
    elif isinstance(view_class, type):
        methods = _class_methods(view_class, getattr(view, "view_initkwargs", None) or {})
        if getattr(view_class, "preconditions_protected", False):
            return methods, CLASS_MIXIN, _constant(_class_view_policy(view_class, view, probe))
    else:
        methods = _function_methods(view)
    if any(getattr(layer, "preconditions_protected", False) for layer in _layers(view)):
        return methods, DECORATOR, _constant(_decorator_policy(view, probe))
    return methods, None, None


def _rule_protection(
    endpoint: Endpoint, middleware: bool
) -> tuple[str | None, Callable[[str], Policy] | None, str]:
    """The protection a settings or admin rule gives the view (through the middleware), and
    the note the audit shows about it."""
    found = rule_for_keys(endpoint.keys)
    if found is None:
        return None, None, ""
    rule, source = found
    if not middleware:
        note = gettext(
            "%(source)s names this view, but %(middleware)s is not in MIDDLEWARE, so "
            "nothing enforces it. Add the middleware after AuthenticationMiddleware."
        ) % {"source": _describe_source(source), "middleware": _MIDDLEWARE_PATH}
        return None, None, note
    note = ""
    if rule.get("broken"):
        note = gettext(
            "The admin rule cannot be applied (%(problem)s): unsafe requests are "
            "refused with 428 until it is fixed in the admin."
        ) % {"problem": rule["broken"]}
    return source, _constant(Policy.from_settings().updated(**rule)), note


def _describe_source(source: RuleSource) -> str:
    return {
        SETTINGS: gettext('A PRECONDITIONS["VIEWS"] entry'),
        ADMIN_RULE: gettext("An admin rule (ProtectedEndpoint)"),
        SETTINGS_AND_ADMIN: gettext('A PRECONDITIONS["VIEWS"] entry and an admin rule'),
    }[source]


def _protected(
    methods: tuple[str, ...] | None, policy_for: Callable[[str], Policy]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The accepted methods the policies protect, and the headers accepted for them."""
    candidates = PROTECTABLE_METHODS if methods is None else methods
    protected = tuple(method for method in candidates if method in policy_for(method).methods)
    headers: dict[str, None] = {}
    for method in protected:
        headers.update(dict.fromkeys(policy_for(method).required_headers))
    return protected, tuple(headers)


def _constant(policy: Policy) -> Callable[[str], Policy]:
    return lambda method: policy


def _probe_request(endpoint: Endpoint) -> HttpRequest:
    """A request resolved to ``endpoint``, so policies are resolved with the same keys
    (namespaced name, dotted path, route) as for a real request."""
    request = HttpRequest()
    namespace, _, url_name = (endpoint.name or "").rpartition(":")
    namespaces: list[str | None] = list(namespace.split(":")) if namespace else []
    request.resolver_match = ResolverMatch(
        endpoint.view, (), {}, url_name or None, namespaces=namespaces, route=endpoint.route
    )
    return request


# --- Methods -------------------------------------------------------------------------------


def _unsafe(methods: Iterable[str]) -> tuple[str, ...]:
    """Unsafe methods, POST/PUT/PATCH/DELETE first, then any others alphabetically."""
    names = {method.upper() for method in methods} - _NOT_UNSAFE
    known = [method for method in PROTECTABLE_METHODS if method in names]
    return (*known, *sorted(names.difference(known)))


def _class_methods(view_class: type, initkwargs: Mapping[str, Any]) -> tuple[str, ...]:
    names = initkwargs.get("http_method_names", getattr(view_class, "http_method_names", ()))
    return _unsafe(name for name in names if hasattr(view_class, name))


def _drf_methods(view: Any, drf_class: type) -> tuple[str, ...]:
    actions = getattr(view, "actions", None)
    if not isinstance(actions, Mapping):
        return _class_methods(drf_class, getattr(view, "initkwargs", None) or {})
    allowed = getattr(drf_class, "http_method_names", ())
    return _unsafe(method for method in actions if method in allowed)


def _function_methods(view: Any) -> tuple[str, ...] | None:
    """The methods ``require_http_methods`` layers allow, or ``None`` when none is found."""
    allowed: set[str] | None = None
    for layer in _layers(view):
        methods = require_http_methods_allowed(layer)
        if methods is None:
            continue
        names = {str(method).upper() for method in methods}
        allowed = names if allowed is None else allowed & names
    return None if allowed is None else _unsafe(allowed)


# --- Policies ------------------------------------------------------------------------------


def _fallback_policy(probe: HttpRequest) -> Policy:
    """Settings and ``VIEWS`` only, when code arguments cannot be read."""
    return Policy.resolve(view_keys_for_request(probe))


def _decorator_policy(view: Any, probe: HttpRequest) -> Policy:
    for layer in _layers(view):
        enforcer = getattr(layer, "preconditions_enforcer", None)
        if isinstance(enforcer, Enforcer):
            return enforcer.policy(probe)
    return _fallback_policy(probe)


def _class_view_policy(view_class: type, view: Any, probe: HttpRequest) -> Policy:
    instance = view_class(**(getattr(view, "view_initkwargs", None) or {}))
    instance.request = probe
    make_enforcer = getattr(instance, "_precondition_enforcer", None)
    if callable(make_enforcer):
        enforcer: Enforcer = make_enforcer()
        return enforcer.policy(probe)
    return _fallback_policy(probe)


def _drf_policies(view: Any, drf_class: type, probe: HttpRequest) -> Callable[[str], Policy]:
    """The policy per method: a viewset's actions may each have their own."""
    actions = getattr(view, "actions", None)
    initkwargs = getattr(view, "initkwargs", None) or {}
    cache: dict[str | None, Policy] = {}

    def policy_for(method: str) -> Policy:
        action = actions.get(method.lower()) if isinstance(actions, Mapping) else None
        if action not in cache:
            instance = drf_class(**initkwargs)
            instance.request = probe
            instance.action = action
            instance.args, instance.kwargs = (), {}
            resolve = getattr(instance, "get_precondition_policy", None)
            policy = resolve() if callable(resolve) else None
            cache[action] = policy if isinstance(policy, Policy) else _fallback_policy(probe)
        return cache[action]

    return policy_for


# --- Looking inside wrapped views ----------------------------------------------------------


def _checks_access_inside(view: Any) -> bool:
    """Whether an access check (``login_required``, ``permission_required``) wraps the view
    *inside* ``require_preconditions``, which then answers before it (rules 12, 13)."""
    protected = False
    for layer in _layers(view):  # outermost first
        if getattr(layer, "preconditions_protected", False):
            protected = True
        elif protected and made_by_access_check(layer):
            return True
    return False


def _layers(view: Any) -> Iterator[Any]:
    """The view and every function it wraps (``functools.wraps`` sets ``__wrapped__``; a
    ``functools.partial`` calls ``func``)."""
    seen: set[int] = set()
    current = view
    while current is not None and id(current) not in seen and len(seen) < 64:
        seen.add(id(current))
        yield current
        if isinstance(current, functools.partial):
            current = current.func
        else:
            current = getattr(current, "__wrapped__", None)


def is_condition_only(view: Any) -> bool:
    """Whether ``view`` answers conditional requests itself, without requiring them: a
    layer made by Django's ``condition``/``etag``/``last_modified`` or by this package's
    drop-ins."""
    return any(
        getattr(layer, "preconditions_condition_only", False) or made_by_django_condition(layer)
        for layer in _layers(view)
    )


def _is_admin_view(view: Any) -> bool:
    """Views of an ``AdminSite`` or a ``ModelAdmin``: wrapped by their ``get_urls()``
    (``admin_site``/``model_admin`` attributes) or bound methods (login, logout)."""
    for layer in _layers(view):
        if hasattr(layer, "admin_site") or hasattr(layer, "model_admin"):
            return True
        owner = getattr(layer, "__self__", None)
        # By module, not isinstance: importing the admin needs it in INSTALLED_APPS.
        if any(cls.__module__ in _ADMIN_MODULES for cls in type(owner).__mro__):
            return True
    return False


# --- The admin page ------------------------------------------------------------------------


@django_http.require_safe
def audit_admin_view(request: HttpRequest, *, admin_site: AdminSite | None = None) -> HttpResponse:
    """The report as a read-only admin page, for staff who may view admin rules.

    Wrap it with ``admin_site.admin_view`` (login redirect, ``never_cache``); the checks here
    keep it closed even when it is not wrapped.
    """
    user = getattr(request, "user", None)
    if user is None or not (user.is_active and user.is_staff):
        raise PermissionDenied(gettext("The protection audit is for staff only."))
    if not (
        user.has_perm("django_preconditions.view_protectedendpoint")
        or user.has_perm("django_preconditions.change_protectedendpoint")
    ):
        raise PermissionDenied(
            gettext("Viewing the protection audit needs the view permission on rules.")
        )
    if admin_site is None:
        from django.contrib import admin

        admin_site = admin.site
    request.current_app = admin_site.name
    rows = build_report()
    unprotected = [row for row in rows if row.unprotected]
    # Report-only mode: requests let through without a precondition — counts of who sent
    # what, shown only to those who may see the report-only requests themselves.
    may_see_reports = user.has_perm("django_preconditions.view_reportedrequest")
    reported = reported_counts() if may_see_reports else {}
    context = {
        **admin_site.each_context(request),
        "title": gettext("Protection audit"),
        "rows": rows,
        "rows_reported": [(row, reported.get(row.name or row.route, 0)) for row in rows],
        "unprotected": unprotected,
        "middleware_installed": middleware_installed(),
        "opts": _protected_endpoint_opts(),
    }
    return render(request, "admin/django_preconditions/audit.html", context)


def _protected_endpoint_opts() -> Any:
    from .models import ProtectedEndpoint

    return ProtectedEndpoint._meta
