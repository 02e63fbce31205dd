"""System checks for the ``PRECONDITIONS`` settings block and for versioned models.

Every id is listed in docs/checks.md with its fix; each has a test in tests/test_checks.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.module_loading import import_string
from django.utils.translation import gettext, gettext_lazy

from . import defaults

_BLOCK = "PRECONDITIONS"


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
    if callable(value) or value in defaults.ERROR_FORMATS:
        return True
    if not isinstance(value, str):
        return False
    try:
        return callable(import_string(value))
    except ImportError:
        return False


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
_VALUE_RULES: dict[str, tuple[Callable[[Any], bool], Any, str]] = {
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
    "documentation_url": (
        _is_documentation_url,
        gettext_lazy('None or an absolute http(s) URL, e.g. "https://example.com/api/errors/"'),
        "preconditions.E009",
    ),
    "json_detailed_headers": (_is_bool, _BOOLEAN, "preconditions.E019"),
}


def _set_it_to(expected: Any) -> str:
    return gettext("Set it to %(expected)s.") % {"expected": expected}


def check_settings_block(**kwargs: Any) -> list[CheckMessage]:
    """Validate ``settings.PRECONDITIONS`` (E001 to E015)."""
    block = getattr(settings, _BLOCK, None)
    if block is None:
        return []
    if not isinstance(block, Mapping):
        return [
            Error(
                gettext("PRECONDITIONS must be a dict, not %(type)s.")
                % {"type": type(block).__name__},
                hint=gettext(
                    'Write PRECONDITIONS = {"METHODS": ["PUT", "PATCH", "DELETE"]} or remove it '
                    "to use the defaults."
                ),
                id="preconditions.E001",
            )
        ]
    errors: list[CheckMessage] = []
    for key in block:
        if key not in defaults.SETTING_KEYS:
            errors.append(
                Error(
                    gettext("PRECONDITIONS has an unknown key %(key)r.") % {"key": key},
                    hint=gettext("Known keys: %(keys)s.")
                    % {"keys": ", ".join(sorted(defaults.SETTING_KEYS))},
                    id="preconditions.E002",
                )
            )
    for name, (is_valid, expected, check_id) in _VALUE_RULES.items():
        key = name.upper()
        if key in block and not is_valid(block[key]):
            errors.append(
                Error(
                    gettext("PRECONDITIONS[%(key)r] is %(value)r.")
                    % {"key": key, "value": block[key]},
                    hint=_set_it_to(expected),
                    id=check_id,
                )
            )
    interval = block.get("RULES_REFRESH_INTERVAL", defaults.RULES_REFRESH_INTERVAL)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval < 0:
        errors.append(
            Error(
                gettext("PRECONDITIONS['RULES_REFRESH_INTERVAL'] is %(value)r.")
                % {"value": interval},
                hint=gettext(
                    "Set it to a number of seconds (0 or more), e.g. 5: how stale admin rules "
                    "may be in processes other than the one that saved them."
                ),
                id="preconditions.E016",
            )
        )
    if "VIEWS" in block:
        errors.extend(_check_views(block["VIEWS"]))
    return errors


def _check_views(views: Any) -> list[CheckMessage]:
    if not isinstance(views, Mapping) or not all(
        isinstance(key, str) and isinstance(entry, Mapping) for key, entry in views.items()
    ):
        return [
            Error(
                gettext(
                    "PRECONDITIONS['VIEWS'] must map view keys (URL name, view dotted path or "
                    "route) to dicts."
                ),
                hint=gettext(
                    'e.g. {"notes:detail": {"methods": ["PUT", "DELETE"], "model": '
                    '"notes.Note", "lookup_url_kwarg": "pk"}}'
                ),
                id="preconditions.E010",
            )
        ]
    errors: list[CheckMessage] = []
    for view_key, entry in views.items():
        where = f"{_BLOCK}['VIEWS'][{view_key!r}]"
        for key in entry:
            if key not in defaults.VIEW_KEYS:
                errors.append(
                    Error(
                        gettext("%(where)s has an unknown key %(key)r.")
                        % {"where": where, "key": key},
                        hint=gettext("Known keys: %(keys)s.")
                        % {"keys": ", ".join(sorted(defaults.VIEW_KEYS))},
                        id="preconditions.E011",
                    )
                )
        for name, (is_valid, expected, _top_level_id) in _VALUE_RULES.items():
            if name in entry and not is_valid(entry[name]):
                errors.append(
                    Error(
                        gettext("%(where)s[%(key)r] is %(value)r.")
                        % {"where": where, "key": name, "value": entry[name]},
                        hint=_set_it_to(expected),
                        id="preconditions.E012",
                    )
                )
        errors.extend(_check_view_model(where, entry))
    return errors


def _check_view_model(where: str, entry: Mapping[str, Any]) -> list[CheckMessage]:
    from .models import VersionedModel

    has_model = "model" in entry
    has_kwarg = "lookup_url_kwarg" in entry
    if has_model != has_kwarg:
        return [
            Error(
                gettext("%(where)s gives %(given)s without %(missing)s.")
                % {
                    "where": where,
                    "given": "model" if has_model else "lookup_url_kwarg",
                    "missing": "lookup_url_kwarg" if has_model else "model",
                },
                hint=gettext(
                    'Give both, e.g. "model": "notes.Note", "lookup_url_kwarg": "pk", so the '
                    "current version can be read before the view runs; or neither, to require "
                    "the headers only."
                ),
                id="preconditions.E015",
            )
        ]
    if not has_model:
        return []
    label = entry["model"]
    try:
        model = apps.get_model(label) if isinstance(label, str) else None
    except (LookupError, ValueError):
        model = None
    if model is None:
        return [
            Error(
                gettext("%(where)s['model'] is %(label)r, which is not an installed model.")
                % {"where": where, "label": label},
                hint=gettext('Use "app_label.ModelName" of a model in INSTALLED_APPS.'),
                id="preconditions.E013",
            )
        ]
    if not issubclass(model, VersionedModel):
        return [
            Error(
                gettext("%(where)s['model'] is %(label)r, which is not a VersionedModel.")
                % {"where": where, "label": label},
                hint=gettext(
                    "Inherit from django_preconditions.models.VersionedModel so the model has "
                    "a version token to compare."
                ),
                id="preconditions.E014",
            )
        ]
    return []


_RULE_FIELDS = {"model": "model_label"}


def rule_errors(rule: Mapping[str, Any], view_key: str) -> dict[str, list[str]]:
    """Problems with an admin rule (a ``VIEWS``-shaped dict), by model field name, using the
    same validators as the checks of ``PRECONDITIONS["VIEWS"]``."""
    errors: dict[str, list[str]] = {}
    for name, (is_valid, expected, _check_id) in _VALUE_RULES.items():
        if name in rule and not is_valid(rule[name]):
            errors.setdefault(name, []).append(_set_it_to(expected))
    for message in _check_view_model(gettext("This rule"), rule):
        field = "lookup_url_kwarg" if message.id == "preconditions.E015" else "model_label"
        errors.setdefault(field, []).append(f"{message.msg} {message.hint}")
    problem = view_key_problem(view_key)
    if problem:
        errors.setdefault("view", []).append(problem)
    return {_RULE_FIELDS.get(key, key): value for key, value in errors.items()}


def view_key_problem(view_key: str) -> str | None:
    """Why ``view_key`` names no view of this project, or ``None`` when it does: a URL name,
    a view's dotted path or a route of the project's URLconf; or an importable view; or a
    route pattern that compiles."""
    from django.urls.resolvers import RoutePattern

    from .urls_inventory import known_view_keys

    if not view_key.strip():
        return gettext("Give a URL name, a view dotted path or a route pattern.")
    if view_key in known_view_keys():
        return None
    if "." in view_key and "/" not in view_key and ":" not in view_key:
        try:
            import_string(view_key)
        except ImportError:
            return gettext("%(key)r is not a URL name of this project, and cannot be imported.") % {
                "key": view_key
            }
        return None
    if "/" in view_key or "<" in view_key:
        try:
            warnings = RoutePattern(view_key).check()
        except Exception as exc:  # ImproperlyConfigured, re.error: the route does not compile
            return _does_not_compile(view_key, exc)
        if warnings:
            return _does_not_compile(view_key, warnings[0].msg)
        return None
    return gettext(
        "%(key)r is not a URL name of this project. Pick one from the list, or give a view "
        "dotted path or a route pattern."
    ) % {"key": view_key}


def _does_not_compile(view_key: str, problem: Any) -> str:
    return gettext("The route %(route)r does not compile: %(problem)s") % {
        "route": view_key,
        "problem": problem,
    }


def check_versioned_models(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E020: a base manager that would disable compare-and-swap; W001: a default manager
    whose ``update()`` does not change versions."""
    from .models import BASE_MANAGER_NAME, VersionedBaseManager, VersionedModel, VersionedQuerySet

    models = (
        apps.get_models()
        if app_configs is None
        else [model for app_config in app_configs for model in app_config.get_models()]
    )
    messages: list[CheckMessage] = []
    for model in models:
        if not issubclass(model, VersionedModel):
            continue
        if not isinstance(model._base_manager, VersionedBaseManager):
            messages.append(
                Error(
                    gettext(
                        "%(model)s uses base manager %(manager)s, so its saves cannot be "
                        "compare-and-swap writes."
                    )
                    % {"model": model._meta.label, "manager": type(model._base_manager).__name__},
                    hint=gettext(
                        "Remove Meta.base_manager_name, or set it to %(name)r, or make that "
                        "manager subclass django_preconditions.models.VersionedBaseManager."
                    )
                    % {"name": BASE_MANAGER_NAME},
                    obj=model,
                    id="preconditions.E020",
                )
            )
        if not isinstance(model._default_manager.all(), VersionedQuerySet):
            messages.append(
                Warning(
                    gettext(
                        "%(model)s's default manager does not return a VersionedQuerySet: its "
                        "update() and bulk_update() leave version tokens unchanged, so clients "
                        "holding old ETags would not notice those writes."
                    )
                    % {"model": model._meta.label},
                    hint=gettext(
                        "Build the manager from VersionedQuerySet, e.g. "
                        "objects = MyQuerySet.as_manager() with MyQuerySet(VersionedQuerySet), or "
                        "call .bump_versions() after bulk writes."
                    ),
                    obj=model,
                    id="preconditions.W001",
                )
            )
    return messages


def check_rules_table(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """W003: the admin rules table is missing (migrations not applied). Runs with database
    checks (``migrate``, ``check --database default``)."""
    from django.db import DatabaseError, connections, router
    from django.db.migrations.recorder import MigrationRecorder

    from .models import ProtectedEndpoint

    if not databases:
        return []
    alias = router.db_for_read(ProtectedEndpoint)
    if alias not in databases:
        return []
    try:
        with connections[alias].cursor() as cursor:
            tables = connections[alias].introspection.table_names(cursor)
    except DatabaseError as exc:
        return [
            Warning(
                gettext("Could not list the tables of database %(alias)r: %(error)s.")
                % {"alias": alias, "error": exc},
                hint=gettext(
                    "Admin rules (ProtectedEndpoint) cannot be read until the database is "
                    "reachable; settings rules still apply."
                ),
                id="preconditions.W003",
            )
        ]
    if ProtectedEndpoint._meta.db_table in tables:
        return []
    recorder = MigrationRecorder(connections[alias])
    if not recorder.has_table():
        return []  # a new database: the migrate that is (or will be) running creates it
    return [
        Warning(
            gettext("The table %(table)r for admin rules does not exist.")
            % {"table": ProtectedEndpoint._meta.db_table},
            hint=gettext(
                "Run `python manage.py migrate django_preconditions`. Until then admin rules "
                "are ignored (and the failure is logged); settings rules still apply."
            ),
            id="preconditions.W003",
        )
    ]


def register_checks() -> None:
    register(Tags.compatibility)(check_settings_block)
    register(Tags.models)(check_versioned_models)
    register(Tags.database)(check_rules_table)
