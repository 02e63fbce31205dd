"""Validation of protection rules: ``PRECONDITIONS["VIEWS"]`` entries (system checks) and
admin rules (:meth:`ProtectedEndpoint.clean`, and again when the middleware loads them).

An admin rule is typed by a staff user, so it is held to more than a settings entry: its
error format is one of the registered names (a string an admin typed is never imported), its
view key must name a URL pattern of the project, its lookup must be a unique field of the
model and a keyword argument of every matching route, and it may not relax the settings
(``allow_wildcard`` can only be switched off). The middleware also merges admin rules so that
they only add protection (``rules.combine_rules``); a rule that fails validation when
loaded fails closed (428 for unsafe methods).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.apps import apps
from django.db import models
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import defaults
from .urls_inventory import Endpoint, iter_endpoints

if TYPE_CHECKING:
    from .models import ProtectedEndpoint

__all__ = [
    "VALUE_RULES",
    "admin_rule_errors",
    "closest_view_keys",
    "endpoints_for",
    "is_admin_view",
    "lookup_field_problem",
    "lookup_kwarg_problem",
    "model_problem",
    "route_kwargs",
    "settings_value",
    "sibling_rules",
    "view_key_family",
]


def _is_method_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset)) and all(
        isinstance(item, str) and item.upper() in defaults.PROTECTABLE_METHODS for item in value
    )


def _is_header_list(value: Any) -> bool:
    acceptable = {name.lower() for name in defaults.ACCEPTABLE_HEADERS}
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(item, str) and item.lower() in acceptable for item in value)
    )


def _is_error_format(value: Any) -> bool:
    """Settings (code) may name any callable by dotted path; it is imported to check it."""
    if callable(value) or value in defaults.ERROR_FORMATS:
        return True
    if not isinstance(value, str):
        return False
    try:
        return callable(import_string(value))
    except (ImportError, ValueError, TypeError):  # ".x", "..": not a dotted path at all
        return False


def _is_registered_error_format(value: Any) -> bool:
    """Admin rules may only name a registered format: never imported."""
    return value in defaults.ERROR_FORMATS


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_documentation_url(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


_BOOLEAN = gettext_lazy("True or False")
# key (lower case) → (validator, what is expected, check id when used at the top level)
VALUE_RULES: dict[str, tuple[Callable[[Any], bool], Any, str]] = {
    "methods": (
        _is_method_list,
        gettext_lazy(
            "a list of HTTP methods among POST, PUT, PATCH, DELETE (GET, HEAD and OPTIONS "
            "never require preconditions)"
        ),
        "preconditions.E003",
    ),
    "required_headers": (
        _is_header_list,
        gettext_lazy(
            'a non-empty list among "If-Match" and "If-Unmodified-Since"; any one of them '
            "satisfies the requirement"
        ),
        "preconditions.E004",
    ),
    "allow_wildcard": (_is_bool, _BOOLEAN, "preconditions.E005"),
    "weak_if_match": (_is_bool, _BOOLEAN, "preconditions.E006"),
    "error_format": (
        _is_error_format,
        gettext_lazy(
            '"problem", "json", "drf", or the dotted path of a callable (request, error) -> '
            "HttpResponse"
        ),
        "preconditions.E007",
    ),
    "include_current_etag": (_is_bool, _BOOLEAN, "preconditions.E008"),
    "mode": (
        lambda value: value in defaults.MODES,
        gettext_lazy(
            '"enforce" (428 without a precondition) or "report" (let it through and report it)'
        ),
        "preconditions.E021",
    ),
    "documentation_url": (
        _is_documentation_url,
        gettext_lazy('None or an absolute http(s) URL, e.g. "https://example.com/api/errors/"'),
        "preconditions.E009",
    ),
    "json_detailed_headers": (_is_bool, _BOOLEAN, "preconditions.E019"),
}


# --- URL patterns ---------------------------------------------------------------------------

_ROUTE_PARAMETER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


def route_kwargs(route: str) -> set[str]:
    """The keyword arguments a route (``path()`` syntax or a regex) passes to its view."""
    names = set(_ROUTE_PARAMETER.findall(route))
    if "(?P<" in route:
        try:
            names |= set(re.compile(route).groupindex)
        except re.error:
            pass
    return names


def endpoints_for(view_key: str, endpoints: Iterable[Endpoint] | None = None) -> list[Endpoint]:
    """The URL patterns a rule's view key applies to (URL name, dotted path or route)."""
    candidates = iter_endpoints() if endpoints is None else endpoints
    return [endpoint for endpoint in candidates if view_key in endpoint.keys]


def view_key_family(view_key: str, endpoints: Iterable[Endpoint] | None = None) -> set[str]:
    """Every key (URL name, dotted path, route) of the URL patterns ``view_key`` names: the
    keys under which a rule for the same view may be written."""
    return {key for endpoint in endpoints_for(view_key, endpoints) for key in endpoint.keys}


def sibling_rules(
    view_key: str, *, exclude_pk: Any = None, endpoints: Iterable[Endpoint] | None = None
) -> list[ProtectedEndpoint]:
    """Enabled admin rules that name a view ``view_key`` names, under another of its keys
    (URL name, dotted path, route), ordered by key.

    The admin form refuses a second enabled rule for a view: the rules would be merged
    (``rules.merge_admin_rules``), but one rule per view is what the admin shows and edits."""
    from .models import ProtectedEndpoint

    keys = view_key_family(view_key, endpoints)
    keys.discard(view_key)
    if not keys:
        return []
    rows = ProtectedEndpoint.objects.filter(enabled=True, view__in=keys)
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    return list(rows.order_by("view"))


def closest_view_keys(view_key: str, endpoints: Iterable[Endpoint] | None = None) -> list[str]:
    """Up to three keys of the project that look like ``view_key`` (for hints)."""
    candidates = iter_endpoints() if endpoints is None else endpoints
    keys = sorted({key for endpoint in candidates for key in endpoint.keys})
    return difflib.get_close_matches(view_key, keys, n=3, cutoff=0.6)


def unknown_view_message(view_key: str, endpoints: Iterable[Endpoint] | None = None) -> str:
    close = closest_view_keys(view_key, endpoints)
    message = _("%(key)r matches no URL pattern of this project.") % {"key": view_key}
    if close:
        message += " " + _("Did you mean %(names)s?") % {"names": ", ".join(map(repr, close))}
    return message


# --- Model and lookup -----------------------------------------------------------------------


def installed_model(label: Any) -> type[models.Model] | None:
    """The installed model named ``"app_label.ModelName"``, or ``None`` (never imports
    anything)."""
    try:
        return apps.get_model(label) if isinstance(label, str) else None
    except (LookupError, ValueError):
        return None


def model_problem(label: Any) -> tuple[type[models.Model] | None, str | None]:
    """The rule's model, or why it cannot be used (never imports anything)."""
    from .models import VersionedModel

    model = installed_model(label)
    if model is None:
        return None, _(
            '%(label)r is not an installed model. Use "app_label.ModelName" of a model in '
            "INSTALLED_APPS."
        ) % {"label": label}
    if not issubclass(model, VersionedModel):
        return None, _(
            "%(label)r is not a VersionedModel. Inherit from "
            "django_preconditions.models.VersionedModel so the model has a version token."
        ) % {"label": label}
    return model, None


def lookup_field_problem(model: type[models.Model], name: Any) -> str | None:
    """``None`` when ``name`` identifies one row of ``model``: ``pk`` or a concrete unique
    field that is not a relation."""
    if name == "pk":
        return None
    try:
        field = model._meta.get_field(str(name))
    except Exception:  # FieldDoesNotExist
        field = None
    if (
        not isinstance(field, models.Field)
        or field.is_relation
        or not field.concrete
        or not (field.primary_key or field.unique)
    ):
        unique = [
            f.name
            for f in model._meta.concrete_fields
            if (f.primary_key or f.unique) and not f.is_relation
        ]
        return _(
            "%(name)r is not a unique field of %(model)s, so it cannot identify the row. "
            "Use pk or one of: %(fields)s."
        ) % {"name": name, "model": model._meta.label, "fields": ", ".join(unique)}
    return None


def lookup_kwarg_problem(kwarg: Any, endpoints: list[Endpoint]) -> str | None:
    """``None`` when every matching route passes ``kwarg`` to its view."""
    missing = [e.route for e in endpoints if str(kwarg) not in route_kwargs(e.route)]
    if not missing:
        return None
    offered = sorted({name for e in endpoints for name in route_kwargs(e.route)})
    return _(
        "The route %(route)r has no URL keyword argument %(kwarg)r. Use one of: %(offered)s."
    ) % {
        "route": missing[0],
        "kwarg": kwarg,
        "offered": ", ".join(offered) or _("(none: this route cannot identify an object)"),
    }


def is_admin_view(view: Any) -> bool:
    """Whether ``view`` belongs to an admin site (admin rules never apply there)."""
    from .audit import _is_admin_view

    return _is_admin_view(view)


def settings_value(view_key: str, key: str) -> Any:
    """What settings say for ``key`` at this view (its ``VIEWS`` entry, else the global)."""
    from .conf import conf

    entry = conf.VIEWS.get(view_key) or {}
    if key in entry:
        return entry[key]
    return getattr(conf, key.upper())


# --- Admin rules ----------------------------------------------------------------------------

_ADMIN_FIELDS = {"model": "model_label"}


def admin_rule_errors(
    rule: Mapping[str, Any],
    view_key: str,
    *,
    check_view: bool = True,
    endpoints: list[Endpoint] | None = None,
) -> dict[str, list[str]]:
    """Problems with an admin rule (``ProtectedEndpoint.as_rule()``), by model field name.

    ``check_view=False`` skips the "matches a URL" test (used when rules are loaded: a rule
    for no URL is never applied, so it is not broken)."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(_ADMIN_FIELDS.get(name, name), []).append(message)

    everything = list(iter_endpoints()) if endpoints is None else endpoints
    _admin_value_errors(rule, view_key, add)
    # At load time (check_view=False) the merge itself keeps enforce (rules.combine_rules,
    # policy.enforced_by_admin_rule); asking the audit there would re-enter the rules cache.
    if check_view and rule.get("mode") == defaults.REPORT:
        _admin_mode_error(view_key, add)
    matching = endpoints_for(view_key, everything)
    if check_view and not matching:
        add("view", unknown_view_message(view_key, everything))
    if any(is_admin_view(endpoint.view) for endpoint in matching):
        add(
            "view",
            _(
                "This is a view of the admin site itself, which admin rules do not apply to "
                "(a rule there could lock everyone out of the admin). Use VersionedModelAdmin "
                "to protect admin pages."
            ),
        )
    _admin_target_errors(rule, matching, add)
    return errors


def _admin_value_errors(
    rule: Mapping[str, Any], view_key: str, add: Callable[[str, str], None]
) -> None:
    for name in ("methods", "required_headers"):
        is_valid, expected, _check_id = VALUE_RULES[name]
        if name in rule and not is_valid(rule[name]):
            add(name, _("Set it to %(expected)s.") % {"expected": expected})
    if "error_format" in rule and not _is_registered_error_format(rule["error_format"]):
        add(
            "error_format",
            _("Choose one of %(names)s; an admin rule cannot name other formats.")
            % {"names": ", ".join(defaults.ERROR_FORMATS)},
        )
    if (
        rule.get("allow_wildcard") is True
        and settings_value(view_key, "allow_wildcard") is not True
    ):
        add(
            "allow_wildcard",
            _(
                "Settings do not accept If-Match: * here, and an admin rule can only add "
                "protection: leave it empty or choose No."
            ),
        )


def _admin_mode_error(view_key: str, add: Callable[[str, str], None]) -> None:
    """An admin rule may switch an endpoint from report to enforce, never back."""
    from .audit import enforced_by

    enforcer = enforced_by(view_key)
    if enforcer:
        add(
            "mode",
            _(
                "%(enforcer)s enforces this endpoint: an admin rule may switch an endpoint "
                "from report to enforce, never from enforce to report. Leave the mode empty."
            )
            % {"enforcer": enforcer},
        )


def _admin_target_errors(
    rule: Mapping[str, Any], matching: list[Endpoint], add: Callable[[str, str], None]
) -> None:
    """The model, its lookup field and the URL keyword argument (all or none)."""
    has_model, has_kwarg = "model" in rule, "lookup_url_kwarg" in rule
    if has_model != has_kwarg:
        add(
            "lookup_url_kwarg" if has_model else "model",
            _("Give both a model and its URL keyword argument, or neither (headers only)."),
        )
    if not has_model:
        if rule.get("lookup_field", "pk") != "pk":
            add("lookup_field", _("A lookup field needs a model."))
        return
    model, problem = model_problem(rule["model"])
    if problem:
        add("model", problem)
    if model is not None:
        problem = lookup_field_problem(model, rule.get("lookup_field", "pk"))
        if problem:
            add("lookup_field", problem)
    if has_kwarg and matching:
        problem = lookup_kwarg_problem(rule["lookup_url_kwarg"], matching)
        if problem:
            add("lookup_url_kwarg", problem)
