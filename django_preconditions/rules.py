"""Admin rules (:class:`~django_preconditions.models.ProtectedEndpoint`), cached per process.

Requests read an in-memory snapshot: no SQL query per request. A process re-reads the table
at most every ``RULES_REFRESH_INTERVAL`` seconds (default 5), and at once after it saved or
deleted a rule itself. If the table is missing or the database is unreachable, the failure is
logged, admin rules are treated as absent (settings rules still apply) and the next request
after the interval tries again; check ``preconditions.W003`` says how to fix it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections, router, transaction

from .conf import conf

logger = logging.getLogger("django_preconditions")


@dataclass(frozen=True)
class RuleSnapshot:
    """Enabled admin rules by view key, as read at ``loaded_at`` (``time.monotonic()``)."""

    by_key: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    loaded_at: float = 0.0
    error: str | None = None

    def rule_for(self, keys: Iterable[str]) -> Mapping[str, Any] | None:
        for key in keys:
            rule = self.by_key.get(key)
            if rule is not None:
                return rule
        return None


_snapshot: RuleSnapshot | None = None
_lock = threading.Lock()
_refreshing = False


def current_rules() -> RuleSnapshot:
    """The cached rules, re-read when older than ``RULES_REFRESH_INTERVAL``."""
    snapshot = _snapshot
    if snapshot is not None and time.monotonic() - snapshot.loaded_at < conf.RULES_REFRESH_INTERVAL:
        return snapshot
    return reload_rules()


def rules_without_blocking() -> RuleSnapshot:
    """For code running on an event loop: the cached rules, even when older than the
    interval; a stale or missing snapshot is re-read in a worker thread for later requests."""
    global _refreshing
    snapshot = _snapshot
    fresh = (
        snapshot is not None and time.monotonic() - snapshot.loaded_at < conf.RULES_REFRESH_INTERVAL
    )
    if not fresh and not _refreshing:
        _refreshing = True
        asyncio.get_running_loop().run_in_executor(None, _refresh_in_thread)
    return snapshot if snapshot is not None else RuleSnapshot()


def _refresh_in_thread() -> None:
    global _refreshing
    try:
        reload_rules()
    finally:
        _refreshing = False
        connections.close_all()  # this worker thread's own connections


def reload_rules() -> RuleSnapshot:
    global _snapshot
    with _lock:
        snapshot = _load()
        _snapshot = snapshot
    return snapshot


def invalidate_rules(**kwargs: Any) -> None:
    """Forget the cached rules (connected to ``ProtectedEndpoint`` saves and deletes)."""
    global _snapshot
    _snapshot = None


def _load() -> RuleSnapshot:
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
        logger.error(
            "django-preconditions could not read its admin rules (%s); only settings rules "
            "apply until it can. Run `manage.py migrate django_preconditions` if the table is "
            "missing.",
            exc,
        )
        return RuleSnapshot(loaded_at=time.monotonic(), error=str(exc))
    return RuleSnapshot(by_key=rows, loaded_at=time.monotonic())


def _read(model: Any, alias: str) -> dict[str, Mapping[str, Any]]:
    return {rule.view: rule.as_rule() for rule in model.objects.using(alias).filter(enabled=True)}
