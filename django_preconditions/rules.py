"""Admin rules (:class:`~django_preconditions.models.ProtectedEndpoint`), cached per process.

Requests read an in-memory snapshot: no SQL query per request. A process re-reads the table
at most every ``RULES_REFRESH_INTERVAL`` seconds (default 5), and at once after it saved or
deleted a rule itself. If the table cannot be read (missing, database unreachable), the
failure is logged and the last rules read successfully stay in force — the refresh fails
closed — and the next request after the interval tries again; check ``preconditions.W003``
says how to fix a missing table. Each rule is validated when loaded
(``validation.admin_rule_errors``): one that fails is kept, marked ``broken``, and the
middleware refuses unsafe requests to its view with 428 (fail closed) until it is fixed.

Saving or deleting a rule forgets the cache twice: at once, and when the transaction that
wrote the rule commits (a read in between still sees the old rows). Every invalidation moves a
generation counter, and a read that was under way when it moved is returned to its caller
but not cached, so that stale rows never outlive the change that made them stale.

:func:`rule_for_keys` is the rule that applies to a view: its ``PRECONDITIONS["VIEWS"]``
entry, made stricter by its admin rules (:func:`merge_admin_rules`, :func:`combine_rules`),
never weaker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from django.db import DatabaseError, connections, router, transaction

from .conf import conf
from .defaults import ERROR_FORMATS
from .policy import ENFORCE, REPORT, Policy, settings_entry, settings_generation

logger = logging.getLogger("django_preconditions")

#: Where the rule that applies to a view comes from (:func:`rule_for_keys`): a
#: ``PRECONDITIONS["VIEWS"]`` entry, an admin rule, or both. The audit shows the same words in
#: its ``protection`` column.
RuleSource = Literal["settings", "admin rule", "settings+admin"]
SETTINGS: Final = "settings"
ADMIN_RULE: Final = "admin rule"
SETTINGS_AND_ADMIN: Final = "settings+admin"
#: Every :data:`RuleSource`, in the audit's order.
RULE_SOURCES: Final[tuple[RuleSource, ...]] = (SETTINGS, ADMIN_RULE, SETTINGS_AND_ADMIN)


@dataclass(frozen=True)
class RuleSnapshot:
    """Enabled admin rules by view key, as read at ``loaded_at`` (``time.monotonic()``).

    After a failed read, ``by_key`` holds the last rules read successfully, ``error`` the
    failure and ``read_at`` (``time.time()``) when those rules were read; ``None`` if never."""

    by_key: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    loaded_at: float = 0.0
    error: str | None = None
    read_at: float | None = None

    def rule_for(self, keys: Iterable[str]) -> Mapping[str, Any] | None:
        """The admin rule for a view named by ``keys`` (most specific first): every enabled
        rule under one of them, merged (:func:`merge_admin_rules`), so that a second rule
        under another key can add protection but never take away what the first gives."""
        rules = [self.by_key[key] for key in dict.fromkeys(keys) if key in self.by_key]
        if not rules:
            return None
        return rules[0] if len(rules) == 1 else merge_admin_rules(rules)


_snapshot: RuleSnapshot | None = None
_last_good: RuleSnapshot | None = None
_lock = threading.Lock()
_refreshing = False
# Moved by every invalidation; a read records it when it starts and is cached only if it has
# not moved since (its rows may predate the change). Guarded by its own lock, never ``_lock``:
# invalidating must not wait for a read in progress.
_generation = 0
_generation_lock = threading.Lock()


# ``RULES_REFRESH_INTERVAL`` and the settings generation it was read under: the middleware
# asks for the rules on every request, the setting changes only with ``PRECONDITIONS``.
_interval: tuple[int, float] = (-1, 0.0)


def refresh_interval() -> float:
    """``RULES_REFRESH_INTERVAL``, read again only when ``PRECONDITIONS`` changes."""
    global _interval
    generation, interval = _interval
    if generation != settings_generation():
        interval = conf.RULES_REFRESH_INTERVAL
        _interval = (settings_generation(), interval)
    return interval


def current_rules() -> RuleSnapshot:
    """The cached rules, re-read when older than ``RULES_REFRESH_INTERVAL``."""
    snapshot = _snapshot
    if snapshot is not None and time.monotonic() - snapshot.loaded_at < refresh_interval():
        return snapshot
    with _lock:
        # Requests that found the rules stale together read them once: the first reads,
        # the others take what it read.
        snapshot = _snapshot
        if snapshot is not None and time.monotonic() - snapshot.loaded_at < refresh_interval():
            return snapshot
        return _reload_holding_the_lock()


def rules_without_blocking() -> RuleSnapshot:
    """For code running on an event loop, which must not query the database itself.

    Rules older than the interval are used while a worker thread re-reads them for later
    requests. With no cached rules at all (the process's first request, or a rule was just
    saved here) they are read in a worker thread and waited for: answering "no rules" would
    let a report-mode view out of an admin's switch to enforce (fail open), and the rules read
    before the change would break "a saved rule applies at once in this process". A failed
    read keeps the rules read last, as on the synchronous path."""
    global _refreshing
    snapshot = _snapshot
    if snapshot is None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="preconditions-rules") as pool:
            return pool.submit(_read_in_thread).result()
    if time.monotonic() - snapshot.loaded_at >= refresh_interval() and not _refreshing:
        _refreshing = True
        asyncio.get_running_loop().run_in_executor(None, _refresh_in_thread)
    return snapshot


def _read_in_thread() -> RuleSnapshot:
    try:
        return reload_rules()
    finally:
        connections.close_all()  # this worker thread's own connections


def _refresh_in_thread() -> None:
    global _refreshing
    try:
        _read_in_thread()
    finally:
        _refreshing = False


def reload_rules() -> RuleSnapshot:
    """Read the rules now. They are cached unless an invalidation happened while they were
    being read: they may be the rows from before that change, so the next call reads again."""
    with _lock:
        return _reload_holding_the_lock()


def _reload_holding_the_lock() -> RuleSnapshot:
    global _snapshot, _last_good
    generation = _generation
    snapshot = _load(_last_good)
    with _generation_lock:
        if generation == _generation:
            if snapshot.error is None:
                _last_good = snapshot
            _snapshot = snapshot
    return snapshot


def last_read() -> float | None:
    """When this process last read the rules successfully (``time.time()``), or ``None``."""
    return _last_good.read_at if _last_good is not None else None


def invalidate_rules(*, using: str | None = None, **kwargs: Any) -> None:
    """Forget the cached rules, now and again when the transaction on ``using`` commits
    (connected to ``ProtectedEndpoint`` saves and deletes).

    Until the commit, other threads still read the old rows; without the second time, one
    that read them in that window would keep them as fresh for ``RULES_REFRESH_INTERVAL``
    and the saved rule would not apply at once in this process."""
    _forget_rules()
    if using is None:
        from .models import ProtectedEndpoint

        using = router.db_for_write(ProtectedEndpoint)
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(_forget_rules, using=using)


def _forget_rules() -> None:
    global _snapshot, _generation
    with _generation_lock:
        _generation += 1
        _snapshot = None


def _load(last_good: RuleSnapshot | None) -> RuleSnapshot:
    from .models import ProtectedEndpoint

    alias = router.db_for_read(ProtectedEndpoint)
    try:
        # In a transaction (tests, or a caller's atomic block) a failing read must not
        # poison it: use a savepoint then. Outside one, a single SELECT.
        if connections[alias].in_atomic_block:
            with transaction.atomic(using=alias):
                rows = _read(ProtectedEndpoint, alias)
        else:
            rows = _read(ProtectedEndpoint, alias)
    except DatabaseError as exc:
        kept = last_good.by_key if last_good is not None else {}
        logger.error(
            "django-preconditions could not read its admin rules (%s); the %d rules read "
            "last stay in force (settings rules apply as always) until it can. Run "
            "`manage.py migrate django_preconditions` if the table is missing.",
            exc,
            len(kept),
        )
        return RuleSnapshot(
            by_key=kept,
            loaded_at=time.monotonic(),
            error=str(exc),
            read_at=last_good.read_at if last_good is not None else None,
        )
    return RuleSnapshot(by_key=rows, loaded_at=time.monotonic(), read_at=time.time())


def _read(model: Any, alias: str) -> dict[str, Mapping[str, Any]]:
    from .urls_inventory import iter_endpoints
    from .validation import admin_rule_errors

    # The URL patterns by key, once per read: each rule is checked against the patterns it
    # names, not against every pattern (10,000 rules: rules x patterns was seconds).
    by_key: dict[str, list[Any]] = {}
    for pattern in iter_endpoints():
        for key in pattern.keys:
            by_key.setdefault(key, []).append(pattern)
    rules: dict[str, Mapping[str, Any]] = {}
    for endpoint in model.objects.using(alias).filter(enabled=True):
        rule = endpoint.as_rule()
        errors = admin_rule_errors(
            rule, endpoint.view, check_view=False, endpoints=by_key.get(endpoint.view, [])
        )
        if errors:
            problem = "; ".join(
                f"{name}: {' '.join(map(str, msgs))}" for name, msgs in errors.items()
            )
            logger.error(
                "django-preconditions: the admin rule for %r is invalid (%s); unsafe requests "
                "to that view are refused with 428 until it is fixed.",
                endpoint.view,
                problem,
            )
            rule["broken"] = problem
        rules[endpoint.view] = rule
    return rules


# --- Which rule applies: settings, then admin rules that can only add protection ------------


def merge_admin_rules(rules: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several enabled admin rules for one view (under different keys, most specific first) as
    one rule that protects at least as much as each of them:

    - methods: the union; accepted headers: the intersection (an empty one accepts nothing:
      every protected request gets 428 until the rules are fixed);
    - ``allow_wildcard``: refused when any rule refuses it;
    - mode: ``enforce`` when any rule enforces, ``report`` only when every rule says so, else
      what code or settings say;
    - error format, and model with its lookup (together): from the most specific rule that
      names them — they say how requests are checked and answered, not which must be
      conditional;
    - broken when any of them is (the view fails closed).

    The admin form refuses a second enabled rule for a view (``validation.sibling_rules``);
    this keeps rules saved around it, or before it checked, from weakening each other."""
    merged: dict[str, Any] = {}
    methods = [rule["methods"] for rule in rules if "methods" in rule]
    if methods:
        merged["methods"] = sorted({str(m).upper() for listed in methods for m in listed})
    headers = [rule["required_headers"] for rule in rules if "required_headers" in rule]
    if headers:
        common = set.intersection(*({str(name).lower() for name in listed} for listed in headers))
        merged["required_headers"] = [n for n in headers[0] if str(n).lower() in common]
    wildcard = {rule["allow_wildcard"] for rule in rules if "allow_wildcard" in rule}
    if wildcard:
        merged["allow_wildcard"] = False not in wildcard
    format_rule = next((rule for rule in rules if "error_format" in rule), None)
    if format_rule is not None:
        merged["error_format"] = format_rule["error_format"]
    target = next((rule for rule in rules if "model" in rule), rules[0])
    for key in ("model", "lookup_url_kwarg", "lookup_field"):
        if key in target:
            merged[key] = target[key]
    modes = [rule.get("mode") for rule in rules]
    if ENFORCE in modes:
        merged["mode"] = ENFORCE
    elif all(mode == REPORT for mode in modes):
        merged["mode"] = REPORT
    broken = [str(rule["broken"]) for rule in rules if rule.get("broken")]
    if broken:
        merged["broken"] = "; ".join(broken)
    return merged


def rule_for_keys(keys: tuple[str, ...]) -> tuple[dict[str, Any], RuleSource] | None:
    """The effective rule for a view from settings and admin rules, and where it came from
    (:data:`SETTINGS`, :data:`ADMIN_RULE` or :data:`SETTINGS_AND_ADMIN`); ``None`` if neither
    names it."""
    configured = settings_entry(keys)
    admin = current_rules().rule_for(keys)
    if configured is None and admin is None:
        return None
    if admin is None:
        return dict(configured or {}), SETTINGS
    merged = combine_rules(configured, admin)
    return merged, ADMIN_RULE if configured is None else SETTINGS_AND_ADMIN


def combine_rules(configured: Mapping[str, Any] | None, admin: Mapping[str, Any]) -> dict[str, Any]:
    """An admin rule applied on top of the settings rule (or the global defaults): it can only
    make the requirement stricter (rule 30; docs/views.md).

    - methods: the union with the settings rule's (an admin rule alone: its own methods);
      accepted headers: the intersection (an empty one accepts nothing);
    - ``allow_wildcard``: on only when settings (or the default) and the admin rule allow it;
    - error format: the settings one; an admin rule may only name a registered format;
    - model and lookup: the settings ones when settings name a model, else the admin rule's;
    - mode: ``enforce`` when either says so (report → enforce, never back).
    """
    base = Policy.from_settings().updated(**(configured or {}))
    merged: dict[str, Any] = dict(configured or {})
    # Without a settings rule the view had no protection: the admin rule's methods stand.
    required = base.methods if configured is not None or "methods" not in admin else ()
    merged["methods"] = tuple(
        sorted({*required, *(str(m).upper() for m in admin.get("methods", ()))})
    )
    headers = admin.get("required_headers")
    if headers is not None:
        wanted = {str(name).lower() for name in headers}
        merged["required_headers"] = tuple(
            name for name in base.required_headers if name.lower() in wanted
        )
    merged["allow_wildcard"] = base.allow_wildcard and admin.get("allow_wildcard", True) is True
    if "error_format" not in merged and admin.get("error_format") in ERROR_FORMATS:
        merged["error_format"] = admin["error_format"]
    if "model" not in merged:
        for key in ("model", "lookup_url_kwarg", "lookup_field"):
            if key in admin:
                merged[key] = admin[key]
    # Mode too may only tighten: an admin rule can switch report to enforce, never back;
    # alone (no settings rule protected the view), its mode stands, like its methods.
    admin_mode = admin.get("mode")
    if configured is None:
        if admin_mode:
            merged["mode"] = admin_mode
    elif ENFORCE in (base.mode, admin_mode):
        merged["mode"] = ENFORCE
    if admin.get("broken"):
        merged["broken"] = admin["broken"]
    return merged
