"""System checks for the ``PRECONDITIONS`` settings block and for versioned models.

Every id is listed in docs/checks.md with its fix; each has a test in tests/test_checks.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.utils.translation import gettext

from . import defaults
from .conf import is_refresh_interval
from .policy import SETTING_KEYS, VIEW_KEYS
from .validation import VALUE_RULES, installed_model

_BLOCK = "PRECONDITIONS"


def _set_it_to(expected: Any) -> str:
    return gettext("Set it to %(expected)s.") % {"expected": expected}


def check_settings_block(**kwargs: Any) -> list[CheckMessage]:
    """Validate ``settings.PRECONDITIONS``: the block (E001, E002), its values
    (``validation.VALUE_RULES``: E003-E009, E019, E021), ``RULES_REFRESH_INTERVAL`` (E016)
    and the ``VIEWS`` entries (E010-E015)."""
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
        if key not in SETTING_KEYS:
            errors.append(
                Error(
                    gettext("PRECONDITIONS has an unknown key %(key)r.") % {"key": key},
                    hint=gettext("Known keys: %(keys)s.")
                    % {"keys": ", ".join(sorted(SETTING_KEYS))},
                    id="preconditions.E002",
                )
            )
    for name, (is_valid, expected, check_id) in VALUE_RULES.items():
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
    if not is_refresh_interval(interval):
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
            if key not in VIEW_KEYS:
                errors.append(
                    Error(
                        gettext("%(where)s has an unknown key %(key)r.")
                        % {"where": where, "key": key},
                        hint=gettext("Known keys: %(keys)s.")
                        % {"keys": ", ".join(sorted(VIEW_KEYS))},
                        id="preconditions.E011",
                    )
                )
        for name, (is_valid, expected, _top_level_id) in VALUE_RULES.items():
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
    """E015: ``model`` and ``lookup_url_kwarg`` go together; E013, E014: the model."""
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
                    "middleware knows which object's save or delete to check; or neither, to "
                    "require the headers only."
                ),
                id="preconditions.E015",
            )
        ]
    if not has_model:
        return []
    return _check_model_label(where, entry["model"])


def _check_model_label(where: str, label: Any) -> list[CheckMessage]:
    """E013: ``label`` names no installed model; E014: not a ``VersionedModel``."""
    from .models import VersionedModel

    model = installed_model(label)
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
    from django.db import DatabaseError, connections
    from django.db.migrations.recorder import MigrationRecorder

    from .models import ProtectedEndpoint

    alias = _rules_alias(databases)
    if alias is None:
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


def check_view_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W004: a ``VIEWS`` key that matches no URL pattern (a typo leaves the view unprotected);
    E017/E018: a ``VIEWS`` lookup that cannot identify the row on the matched routes."""
    from .conf import conf
    from .urls_inventory import iter_endpoints
    from .validation import endpoints_for

    views: Mapping[Any, Any] = conf.VIEWS  # as written: E010 reports other shapes
    if not views:
        return []
    endpoints = list(iter_endpoints())
    messages: list[CheckMessage] = []
    for view_key, entry in views.items():
        if not isinstance(view_key, str) or not isinstance(entry, Mapping):
            continue  # E010
        where = f"{_BLOCK}['VIEWS'][{view_key!r}]"
        matching = endpoints_for(view_key, endpoints)
        if not matching and not _names_a_drf_action(view_key, endpoints):
            messages.append(_unmatched_view_key(where, view_key, endpoints))
        messages.extend(_view_lookup_errors(where, entry, matching))
        messages.extend(_conditional_views(where, matching))
    return messages


def _conditional_views(where: str, matching: list[Any], obj: Any = None) -> list[CheckMessage]:
    """W008: a rule for a view that answers conditional requests itself (Django's
    ``condition``/``etag``/``last_modified``, or this package's drop-ins). The middleware
    serves the row's ``ETag`` in place of the view's, and the view's own check refuses it
    (412): a client that sends back what it was served can never write."""
    from .audit import is_condition_only
    from .middleware import is_protected_in_code

    return [
        Warning(
            gettext(
                "%(where)s protects %(view)s, which answers conditional requests itself (a "
                "condition, etag or last_modified decorator): the middleware serves the "
                "row's ETag in place of the view's, and the view refuses it with 412, so no "
                "client can write."
            )
            % {"where": where, "view": endpoint.view_path},
            hint=gettext(
                "Remove the view's decorator (the rule serves the row's ETag and "
                "Last-Modified, and answers 304), or protect the view in code with "
                "require_preconditions instead of a rule."
            ),
            obj=obj,
            id="preconditions.W008",
        )
        for endpoint in matching
        if is_condition_only(endpoint.view) and not is_protected_in_code(endpoint.view)
    ]


def _names_a_drf_action(view_key: str, endpoints: list[Any]) -> bool:
    """Whether ``view_key`` is a DRF viewset action's key, ``"<viewset dotted path>.<action>"``
    (docs/rest_framework.md), for a viewset routed by the URLconf: the DRF mixin applies it
    (the middleware does not)."""
    path, _, action = view_key.rpartition(".")
    for endpoint in endpoints:
        actions = getattr(endpoint.view, "actions", None)
        if (
            endpoint.view_path == path
            and isinstance(actions, Mapping)
            and action in actions.values()
        ):
            return True
    return False


def _unmatched_view_key(where: str, view_key: str, endpoints: list[Any]) -> CheckMessage:
    """W004, with the closest keys as a hint."""
    from .validation import closest_view_keys

    close = closest_view_keys(view_key, endpoints)
    return Warning(
        gettext("%(where)s matches no URL pattern, so no view is protected by it.")
        % {"where": where},
        hint=(
            gettext("Did you mean %(keys)s? ") % {"keys": ", ".join(map(repr, close))}
            if close
            else ""
        )
        + gettext(
            "Use a URL name (with its namespace), a view's dotted path or a route "
            "exactly as `manage.py preconditions_audit` lists them."
        ),
        id="preconditions.W004",
    )


def _view_lookup_errors(
    where: str, entry: Mapping[str, Any], matching: list[Any]
) -> list[CheckMessage]:
    """E017/E018: the lookup field on the model, the URL keyword argument on the routes."""
    from .validation import lookup_field_problem, lookup_kwarg_problem, model_problem

    model, _problem = model_problem(entry.get("model"))
    if model is None:
        return []  # E013/E014/E015
    messages: list[CheckMessage] = []
    problem = lookup_field_problem(model, entry.get("lookup_field", "pk"))
    if problem:
        messages.append(
            Error(
                f"{where}['lookup_field']: {problem}",
                id="preconditions.E017",
                hint=gettext("Requests to this view are refused with 428 until fixed."),
            )
        )
    kwarg = entry.get("lookup_url_kwarg")
    problem = lookup_kwarg_problem(kwarg, matching) if matching and kwarg else None
    if problem:
        messages.append(
            Error(
                f"{where}['lookup_url_kwarg']: {problem}",
                id="preconditions.E018",
                hint=gettext("Requests to this view are refused with 428 until fixed."),
            )
        )
    return messages


def check_admin_rules(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """W005: an enabled admin rule that matches no URL pattern or cannot be applied (runs with
    database checks, like W003)."""
    from django.db import DatabaseError

    from .models import ProtectedEndpoint
    from .urls_inventory import iter_endpoints
    from .validation import admin_rule_errors, endpoints_for

    alias = _rules_alias(databases)
    if alias is None:
        return []
    try:
        rules = list(ProtectedEndpoint.objects.using(alias).filter(enabled=True))
    except DatabaseError:
        return []  # W003 reports it
    endpoints = list(iter_endpoints())
    messages: list[CheckMessage] = []
    for rule in rules:
        messages.extend(
            _conditional_views(
                gettext("The admin rule for %(view)r") % {"view": rule.view},
                endpoints_for(rule.view, endpoints),
                obj=rule,
            )
        )
        errors = admin_rule_errors(rule.as_rule(), rule.view, endpoints=endpoints)
        if errors:
            detail = "; ".join(
                f"{field}: {' '.join(map(str, found))}" for field, found in errors.items()
            )
            messages.append(
                Warning(
                    gettext("The admin rule for %(view)r cannot be applied: %(detail)s")
                    % {"view": rule.view, "detail": detail},
                    hint=gettext(
                        "Fix or disable it in the admin (Protected endpoints). Until then "
                        "unsafe requests to a view it matches are refused with 428."
                    ),
                    obj=rule,
                    id="preconditions.W005",
                )
            )
    return messages


def _rules_alias(databases: Any) -> str | None:
    """The database the admin rules are read from, if the check may query it."""
    from django.db import router

    from .models import ProtectedEndpoint

    alias = router.db_for_read(ProtectedEndpoint)
    return alias if databases and alias in databases else None


def check_versioned_inlines(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W006: an admin inline edits a VersionedModel. Inline rows are saved as plain Django
    saves (no version travels with them), so a stale inline row overwrites a newer one."""
    if not apps.is_installed("django.contrib.admin"):
        return []
    from ._compat import admin_sites
    from .models import VersionedModel

    messages: list[CheckMessage] = []
    for site in admin_sites():
        for model in apps.get_models():
            if not site.is_registered(model):
                continue
            model_admin = site.get_model_admin(model)
            for inline in model_admin.inlines:
                versioned = getattr(inline, "model", None)
                if not (isinstance(versioned, type) and issubclass(versioned, VersionedModel)):
                    continue
                messages.append(
                    Warning(
                        gettext(
                            "%(inline)s in the admin of %(model)s edits %(versioned)s rows, "
                            "which are saved without the version they were shown with: a stale "
                            "inline row overwrites changes made since the page was opened."
                        )
                        % {
                            "inline": inline.__name__,
                            "model": model._meta.label,
                            "versioned": versioned._meta.label,
                        },
                        hint=gettext(
                            "Edit %(versioned)s in its own VersionedModelAdmin (link to it from "
                            "the inline, e.g. show_change_link = True) and make the inline "
                            "read-only (has_change_permission/has_add_permission/"
                            "has_delete_permission returning False); then silence "
                            "preconditions.W006."
                        )
                        % {"versioned": versioned._meta.label},
                        obj=inline,
                        id="preconditions.W006",
                    )
                )
    return messages


def check_mixin_order(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E022: a view class of the URLconf lists ``PreconditionMixin`` or
    ``PreconditionRequiredMixin`` after the view base, so the base's methods run and nothing
    is enforced (and the audit, the middleware and the schema know it is unprotected)."""
    from .urls_inventory import iter_endpoints
    from .views import PreconditionRequiredMixin

    mixins: list[type] = [PreconditionRequiredMixin]
    if apps.is_installed("rest_framework"):
        from .rest_framework import PreconditionMixin

        mixins.append(PreconditionMixin)
    messages: list[CheckMessage] = []
    seen: set[type] = set()
    for endpoint in iter_endpoints():
        view = endpoint.view
        for cls in (getattr(view, "view_class", None), getattr(view, "cls", None)):
            if not isinstance(cls, type) or cls in seen:
                continue
            seen.add(cls)
            mixin = next((m for m in mixins if issubclass(cls, m)), None)
            if mixin is None or getattr(cls, "preconditions_protected", True):
                continue
            messages.append(
                Error(
                    gettext(
                        "%(view)s lists %(mixin)s after its view base class, so the base "
                        "class's methods run instead of the mixin's: the view enforces no "
                        "precondition."
                    )
                    % {"view": cls.__qualname__, "mixin": mixin.__name__},
                    hint=gettext(
                        "Put %(mixin)s first among the bases, e.g. class %(view)s(%(mixin)s, "
                        "ModelViewSet)."
                    )
                    % {"view": cls.__name__, "mixin": mixin.__name__},
                    obj=cls,
                    id="preconditions.E022",
                )
            )
    return messages


def check_rules_need_the_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W007: ``PRECONDITIONS["VIEWS"]`` names views to protect by a rule, but
    ``PreconditionMiddleware`` is not installed: a view protected only by such a rule is not
    protected. Entries that only tune views protected in code are fine; an entry without a
    ``model`` for a view that is not protected in code (a headers-only rule) is such a rule."""
    from .audit import middleware_installed, protected_in_code
    from .conf import conf
    from .urls_inventory import iter_endpoints

    views: Mapping[str, Any] = conf.VIEWS  # entries may be anything (check E010)
    entries = {key: entry for key, entry in views.items() if isinstance(entry, Mapping)}
    if not entries or middleware_installed():
        return []
    in_code = {
        key for endpoint in iter_endpoints() if protected_in_code(endpoint) for key in endpoint.keys
    }
    rules = [key for key, entry in entries.items() if "model" in entry or key not in in_code]
    if not rules:
        return []
    return [
        Warning(
            gettext(
                "PRECONDITIONS['VIEWS'] has protection rules (%(keys)s), but "
                "PreconditionMiddleware is not in MIDDLEWARE: views protected only by those "
                "rules accept writes without a precondition."
            )
            % {"keys": ", ".join(sorted(rules))},
            hint=gettext(
                'Add "django_preconditions.middleware.PreconditionMiddleware" to MIDDLEWARE, '
                "or protect those views in code."
            ),
            id="preconditions.W007",
        )
    ]


def register_checks() -> None:
    register(Tags.compatibility)(check_settings_block)
    register(Tags.compatibility)(check_rules_need_the_middleware)
    register(Tags.urls)(check_mixin_order)
    register(Tags.urls)(check_view_keys)
    register(Tags.database)(check_admin_rules)
    register(Tags.models)(check_versioned_models)
    register(Tags.admin)(check_versioned_inlines)
    register(Tags.database)(check_rules_table)
