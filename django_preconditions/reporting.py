"""Report-only mode: unsafe requests without a precondition, counted per endpoint and client.

In report mode (``PRECONDITIONS["MODE"] = "report"``, or per view) a request that enforce
mode would answer 428 proceeds, and :func:`report_unmet`:

- sends ``precondition_required`` with ``report_only=True`` (receivers of the refusal get
  ``report_only`` absent, i.e. false) and logs ``Precondition Required (report-only): <path>``
  on ``django.request`` at warning level, as the 428 would be logged;
- counts it in memory per endpoint (URL name or route, and method) and client (user name and
  ``User-Agent``). At the end of a request (``request_finished``), the counts of a key are
  written to :class:`ReportedRequest` at most once per ``WRITE_INTERVAL`` (60 s) per process,
  and, when the cache is shared between processes, once per interval across all of them:
  never one database write per request. Counts not yet written when a process exits are lost
  (at most one interval's worth).

The admin lists :class:`ReportedRequest` rows (``reporting_admin.py``), so a team sees which
clients still write unconditionally before switching an endpoint to enforce mode.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import DatabaseError, IntegrityError, models, router, transaction
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from . import signals
from .conditions import Decision
from .dbconflicts import is_database_conflict
from .headers import USER_AGENT

__all__ = ["WRITE_INTERVAL", "ReportedRequest", "flush_reports", "report_unmet", "reset_reports"]

#: Seconds between two database writes for one endpoint and client (per process, and across
#: processes when the default cache is shared).
WRITE_INTERVAL: Final = 60.0
_CACHE_PREFIX: Final = "django-preconditions:report:"
_WRITE_ATTEMPTS: Final = 5

request_logger = logging.getLogger("django.request")
logger = logging.getLogger("django_preconditions")


class ReportedRequest(models.Model):
    """Unsafe requests without a precondition that report mode let through, per endpoint
    and client."""

    endpoint = models.CharField(
        gettext_lazy("endpoint"),
        max_length=255,
        help_text=gettext_lazy("URL name, or route pattern."),
    )
    method = models.CharField(gettext_lazy("method"), max_length=16)
    user = models.CharField(
        gettext_lazy("user"),
        max_length=150,
        blank=True,
        help_text=gettext_lazy("Empty: anonymous."),
    )
    user_agent = models.CharField(gettext_lazy("user agent"), max_length=255, blank=True)
    last_path = models.CharField(gettext_lazy("last path"), max_length=255, blank=True)
    count = models.PositiveBigIntegerField(gettext_lazy("count"), default=0)
    first_seen = models.DateTimeField(gettext_lazy("first seen"))
    last_seen = models.DateTimeField(gettext_lazy("last seen"))
    #: Hash of endpoint, method, user and user agent: one row per endpoint and client.
    client_key = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        app_label = "django_preconditions"
        verbose_name = gettext_lazy("report-only request")
        verbose_name_plural = gettext_lazy("report-only requests")
        ordering = ("endpoint", "-last_seen")

    def __str__(self) -> str:
        return gettext("%(method)s %(endpoint)s by %(user)s") % {
            "method": self.method,
            "endpoint": self.endpoint,
            "user": self.user or gettext("anonymous"),
        }


@dataclass
class _Pending:
    endpoint: str
    method: str
    user: str
    user_agent: str
    last_path: str
    first_seen: float  # time.time()
    last_seen: float
    count: int = 0


_lock = threading.Lock()
_Key = tuple[str, str, str, str]  # endpoint, method, user name, user agent
_pending: dict[_Key, _Pending] = {}
_written_at: dict[_Key, float] = {}  # → time.monotonic() of its last write
_next_due = math.inf


#: Set on a request once it was reported (see :func:`report_unmet`).
_REPORTED_ATTRIBUTE = "_preconditions_reported"


def report_unmet(request: Any, decision: Decision, *, view: Any = None) -> None:
    """Announce and count a request that report mode let through (``decision.unmet`` set),
    once per request, also when it is run again."""
    unmet = decision.unmet
    if unmet is None:
        return
    http_request = getattr(request, "_request", request)
    if getattr(http_request, _REPORTED_ATTRIBUTE, False):
        return  # a request run again after a database refusal (rule 47) is one request
    setattr(http_request, _REPORTED_ATTRIBUTE, True)
    signals.precondition_required.send(
        sender=view,
        request=request,
        view=view,
        reason=unmet.reason,
        decision=unmet,
        report_only=True,
    )
    request_logger.warning(
        "Precondition Required (report-only): %s",
        request.path,
        extra={"request": getattr(request, "_request", request), "report_only": True},
    )
    _count(request, unmet.method)


_USER_LENGTH = 150  # ReportedRequest.user's max_length


def _endpoint(request: Any) -> str:
    """The endpoint's key, as the audit names endpoints: the (namespaced) URL name, else the
    route (``ResolverMatch.view_name`` of an unnamed pattern is the view's dotted path, the
    same for every route to the view)."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        key = match.view_name if match.url_name else match.route
        return _storable(key or request.path)
    return _storable(request.path)


def _storable(value: Any, length: int = 255) -> str:
    """``value`` as a report column holds it: cut to the column's length, without NUL
    characters (PostgreSQL refuses them in text; a client can send one in User-Agent)."""
    return str(value).replace("\x00", "")[:length]


def _count(request: Any, method: str) -> None:
    global _next_due
    user = getattr(request, "user", None)
    username = user.get_username() if user is not None and user.is_authenticated else ""
    username = _storable(username, _USER_LENGTH)  # an email as username may be longer
    agent = _storable(request.headers.get(USER_AGENT, ""))
    endpoint = _endpoint(request)
    key = (endpoint, method, username, agent)
    wall = time.time()
    with _lock:
        entry = _pending.get(key)
        if entry is None:
            entry = _pending[key] = _Pending(endpoint, method, username, agent, "", wall, wall)
        entry.count += 1
        entry.last_seen = wall
        entry.last_path = _storable(request.path)
        _next_due = min(_next_due, _written_at.get(key, -math.inf) + WRITE_INTERVAL)


@receiver(request_finished, dispatch_uid="django-preconditions-flush-reports")
def _flush_when_due(**kwargs: Any) -> None:
    if time.monotonic() >= _next_due:
        flush_reports()


def flush_reports(*, force: bool = False) -> int:
    """Write the counts whose interval has passed (all of them with ``force``); the number
    of rows written. Called at the end of each request; call it yourself before reading
    the report in a test, or at shutdown."""
    global _next_due
    now = time.monotonic()
    with _lock:
        due = [
            key
            for key in _pending
            if force or now - _written_at.get(key, -math.inf) >= WRITE_INTERVAL
        ]
        if not force:
            due = [key for key in due if cache.add(_cache_key(key), 1, WRITE_INTERVAL)]
        batch = {key: _pending.pop(key) for key in due}
        for key, written in list(_written_at.items()):  # forget keys that no longer throttle
            if now - written >= WRITE_INTERVAL and key not in _pending:
                del _written_at[key]
        for key in batch:
            _written_at[key] = now
        _next_due = min(
            (_written_at.get(key, -math.inf) + WRITE_INTERVAL for key in _pending),
            default=math.inf,
        )
        if _pending and _next_due <= now:  # another process wrote them: retry later
            _next_due = now + WRITE_INTERVAL
    for key, entry in batch.items():
        _write(key, entry)
    return len(batch)


def _client_key(key: _Key) -> str:
    return hashlib.sha256("\n".join(key).encode()).hexdigest()


def _cache_key(key: _Key) -> str:
    return _CACHE_PREFIX + _client_key(key)


def _when(seconds: float) -> datetime.datetime:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment if settings.USE_TZ else timezone.make_naive(moment)


def _write(key: _Key, entry: _Pending) -> None:
    alias = router.db_for_write(ReportedRequest)
    client_key = _client_key(key)
    fields = {
        "user": entry.user,
        "user_agent": entry.user_agent,
        "last_path": entry.last_path,
        "last_seen": _when(entry.last_seen),
    }
    error: DatabaseError | None = None
    for _attempt in range(_WRITE_ATTEMPTS):
        try:
            with transaction.atomic(using=alias):
                rows = ReportedRequest.objects.using(alias).filter(client_key=client_key)
                if not rows.update(count=models.F("count") + entry.count, **fields):
                    ReportedRequest.objects.using(alias).create(
                        client_key=client_key,
                        endpoint=entry.endpoint,
                        method=entry.method,
                        count=entry.count,
                        first_seen=_when(entry.first_seen),
                        **fields,
                    )
            return
        except DatabaseError as exc:
            # Another process created the row meanwhile (IntegrityError), or the first
            # writes of two processes deadlocked on the unique index (MariaDB's gap locks):
            # the transaction was rolled back as a whole, so try again.
            error = exc
            if not (isinstance(exc, IntegrityError) or is_database_conflict(exc)):
                break
    logger.error(
        "django-preconditions could not store the report-only counts of %s %s (%s). "
        "Run `manage.py migrate django_preconditions` if the table is missing.",
        entry.method,
        entry.endpoint,
        error,
    )


def reported_counts() -> dict[str, int]:
    """Requests reported so far (as written), by endpoint; empty when the table is missing."""
    rows = ReportedRequest.objects.values_list("endpoint").annotate(total=models.Sum("count"))
    try:
        with transaction.atomic(using=router.db_for_read(ReportedRequest)):
            return {endpoint: int(total) for endpoint, total in rows}
    except DatabaseError:
        return {}


def reset_reports() -> None:
    """Forget the counts not yet written and the write times (for tests)."""
    global _next_due
    with _lock:
        cache.delete_many([_cache_key(key) for key in (*_written_at, *_pending)])
        _pending.clear()
        _written_at.clear()
        _next_due = math.inf
