"""The in-process benchmarks, through Django's test ``Client``, on one database.

The test client builds a WSGI request and runs Django's whole handler (URL resolving,
middleware, view, rendering) without a socket: what is measured is the Django side of a
request, the same for every variant, plus the variant's own work. The baseline of every group
is what a project has *before* adopting the app: a plain ``models.Model`` (``PlainDoc``)
behind a plain ``ModelViewSet`` or a plain function view. Each variant reads and writes its
own rows, so that one variant's writes never change another's ETags; every write changes the
row (SQLite skips writing a row whose values do not change, which would measure a no-op).
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from .throughput import tag_list
from .timing import Group, Measurement, Target, Variant

CONDITIONAL_GET = "django.middleware.http.ConditionalGetMiddleware"
PRECONDITION_MIDDLEWARE = "django_preconditions.middleware.PreconditionMiddleware"
CONCURRENCY_MIDDLEWARE = "concurrency.middleware.ConcurrencyMiddleware"
ADMIN_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
RULES_TABLE = "django_preconditions_protectedendpoint"

PAGE_SIZES = (10, 100, 1000)
RULE_COUNTS = (1_000, 10_000)
#: Sizes of the ``If-None-Match`` value, up to what gunicorn accepts in one header line
#: (``limit_request_field_size`` = 8,190 bytes, name and colon included).
HEADER_SIZES = (64, 1_024, 4_096, 8_000)
SERVER_HEADER_LIMIT = 8_190

#: Targets of issue 12, ours / plain model: (SQLite in process, PostgreSQL).
LIMITS = {
    "retrieve": (1.10, 1.05),
    "update": (1.10, 1.05),
    "list": (1.10, 1.05),
    "detail-304": (0.80, 0.80),
    "list-304": (0.30, 0.30),
    "rules": (1.02, 1.02),
}


class BenchmarkError(AssertionError):
    """A variant answered something else than the benchmark expects: the numbers would be
    meaningless, so the run stops."""


@dataclasses.dataclass
class Clients:
    """One test client per middleware chain (each loaded once)."""

    plain: Client
    conditional_get: Client
    concurrency: Client
    _rules: Client | None = None

    @property
    def rules(self) -> Client:
        """Built on first use, after the groups without the middleware."""
        if self._rules is None:
            self._rules = client_with([PRECONDITION_MIDDLEWARE])
        return self._rules


def client_with(middleware: list[str]) -> Client:
    """A test client whose handler runs exactly ``middleware`` (loaded once, now)."""
    client = Client()
    with override_settings(MIDDLEWARE=middleware):
        client.handler.load_middleware()
    return client


def make_clients() -> Clients:
    return Clients(
        plain=client_with([]),
        conditional_get=client_with([CONDITIONAL_GET]),
        concurrency=client_with([CONCURRENCY_MIDDLEWARE]),
    )


def limit(operation: str) -> float:
    sqlite, other = LIMITS[operation]
    return sqlite if connection.vendor == "sqlite" else other


def expect(status: int, label: str) -> Callable[[HttpResponse], None]:
    def check(response: HttpResponse) -> None:
        if response.status_code != status:
            raise BenchmarkError(
                f"{label}: expected {status}, got {response.status_code}: "
                f"{response.content[:300]!r}"
            )

    return check


def queries_per_request(
    send: Callable[[], Any], check: Callable[[Any], None], *, table: str | None = None
) -> Callable[[], tuple[float, str]]:
    """Count the SQL statements of a few requests (outside the timed part: capturing them
    costs time). With ``table``, also report how many of them touched that table."""

    def count() -> tuple[float, str]:
        requests = 5
        with CaptureQueriesContext(connection) as captured:
            for _ in range(requests):
                check(send())
        note = ""
        if table is not None:
            touching = sum(table in query["sql"] for query in captured.captured_queries)
            note = f"{touching / requests:g} on the rules table"
        return len(captured.captured_queries) / requests, note

    return count


def _variant(
    key: str,
    label: str,
    send: Callable[[], HttpResponse],
    check: Callable[[HttpResponse], None],
    *,
    enter: Callable[[], None] | None = None,
    table: str | None = None,
    url: str | None = None,
) -> Variant:
    """``url``: the variant's URL, resolved by a URLconf that tries its routes first."""
    return Variant(
        key=key,
        label=label,
        send=send,
        check=check,
        enter=_routes_first(url, enter),
        count_queries=queries_per_request(send, check, table=table),
    )


def _routes_first(url: str | None, enter: Callable[[], None] | None) -> Callable[[], None] | None:
    """``enter`` preceded by switching to the URLconf in which ``url``'s routes come first:
    no variant pays for the patterns of the others listed before its own (see
    ``bench_project/urls.py``)."""
    if url is None:
        return enter
    from bench_project.urls import urlconf_first

    urlconf = urlconf_first(url)

    def switch() -> None:
        settings.ROOT_URLCONF = urlconf
        if enter is not None:
            enter()

    return switch


def _ratio_target(
    operation: str, row: str, key: str, extra: Callable[[dict[str, Measurement]], str] | None = None
) -> Callable[[dict[str, Measurement]], list[Target]]:
    """A judge: ``key``'s ratio to the group's baseline at most the issue's limit; ``extra``
    returns the reason another condition fails (``""`` when it holds)."""

    def judge(results: dict[str, Measurement]) -> list[Target]:
        measurement = results[key]
        bound = limit(operation)
        failed = extra(results) if extra else ""
        met = measurement.ratio <= bound and not failed
        return [
            Target(
                row=row,
                variant=key,
                ratio=measurement.ratio,
                limit=f"≤ {bound:.2f}x",
                met=met,
                detail=failed,
            )
        ]

    return judge


def _judges(*judges: Callable[[dict[str, Measurement]], list[Target]]) -> Any:
    def judge(results: dict[str, Measurement]) -> list[Target]:
        return [target for one in judges for target in one(results)]

    return judge


# Rows: each variant its own (the tables are separate, but ours/ext/columns share Doc).
ROWS = {
    "plain-model": 1,
    "columns": 2,
    "ours": 3,
    "ext": 4,
    "conc": 5,
    "fn-plain": 6,
    "fn-ours": 7,
    "fn-rule": 8,
    "ours-token": 9,
    "fn-ours-token": 10,
    "fn-columns": 11,
}


# --- DRF retrieve and update ------------------------------------------------------------------

#: Our variants over ``TokenDoc``: what a model that removes ``last_modified`` pays (shown,
#: not judged: the targets are judged on ``VersionedModel`` as it comes).
TOKEN_ONLY_LABEL = "ours, token only: VersionedModel without last_modified"

DRF_VARIANTS = (
    ("plain-model", "plain model + plain ModelViewSet"),
    ("columns", "VersionedModel + plain ModelViewSet (the columns alone)"),
    ("ours", "ours: VersionedModel + PreconditionMixin"),
    ("ours-token", TOKEN_ONLY_LABEL + " + PreconditionMixin"),
    ("ext", "drf-extensions APIETAGMixin (VersionedModel)"),
    ("conc", "django-concurrency IntegerVersionField + ModelViewSet"),
)


def _drf_client(clients: Clients, name: str) -> Client:
    return clients.concurrency if name == "conc" else clients.plain


def retrieve_group(clients: Clients) -> Group:
    variants = []
    for name, label in DRF_VARIANTS:
        url = f"/drf/{name}/docs/{ROWS[name]}/"
        client = _drf_client(clients, name)
        variants.append(
            _variant(
                f"retrieve.{name}",
                label,
                lambda url=url, client=client: client.get(url),
                expect(200, f"retrieve {label}"),
                url=url,
            )
        )
    return Group(
        "retrieve",
        "DRF retrieve (GET one document, 200)",
        variants,
        judge=_ratio_target("retrieve", "retrieve (DRF)", "retrieve.ours"),
    )


def update_group(clients: Clients) -> Group:
    variants = []
    for name, label in DRF_VARIANTS:
        url = f"/drf/{name}/docs/{ROWS[name]}/"
        client = _drf_client(clients, name)
        first = client.get(url)
        state: dict[str, Any] = {
            "etag": first.get("ETag", "") if name in ("ours", "ours-token", "ext") else "",
            "version": json.loads(first.content).get("version"),
            "counter": 0,
        }
        variants.append(_write_variant(f"update.{name}", label, client, "patch", url, state))
    return Group(
        "update",
        "DRF update (PATCH one document, 200; every write changes the row)",
        variants,
        judge=_ratio_target("update", "update with If-Match (DRF)", "update.ours"),
        notes=[
            "Each PATCH changes the title and the counter. Ours and drf-extensions send the "
            "ETag of the previous response in If-Match; django-concurrency sends the version "
            "of the previous response in the body; the plain variants send no precondition."
        ],
    )


def _write_variant(
    key: str, label: str, client: Client, method: str, url: str, state: dict[str, Any]
) -> Variant:
    """A write that changes the row every time: it sends the ETag (``state["etag"]``, when
    the variant has one) or the version (``state["version"]``) of the previous response."""
    write = getattr(client, method)

    def send() -> Any:
        return write(
            url,
            data=state["body"],
            content_type="application/json",
            headers={"If-Match": state["etag"]} if state["etag"] else {},
        )

    check_status = expect(200, f"{key} {label}")

    def check(response: HttpResponse) -> None:
        check_status(response)
        if state["etag"]:
            state["etag"] = response.get("ETag", "")  # the next write sends the new ETag
        if state.get("version") is not None:
            state["version"] = json.loads(response.content)["version"]
        _next_body(state)

    _next_body(state)
    return _variant(key, label, send, check, url=url)


def _next_body(state: dict[str, Any]) -> None:
    state["counter"] += 1
    body: dict[str, Any] = {"title": f"Updated {state['counter']}", "counter": state["counter"]}
    if state.get("version") is not None:
        body["version"] = state["version"]
    state["body"] = json.dumps(body)


# --- Function views: decorator and middleware --------------------------------------------------

FN_VARIANTS = (
    ("fn-plain", "plain model + plain function view", "/fn/plain/{}/"),
    (
        "fn-columns",
        "VersionedModel + plain function view (the columns alone)",
        "/fn/columns/{}/",
    ),
    ("fn-ours", "ours: @require_preconditions(Doc)", "/fn/ours/{}/"),
    (
        "fn-ours-token",
        TOKEN_ONLY_LABEL + ": @require_preconditions(TokenDoc)",
        "/fn/ours-token/{}/",
    ),
    ("fn-rule", "ours: plain view + PreconditionMiddleware admin rule", "/rule/docs/{}/"),
)


def ensure_view_rule() -> None:
    """The admin rule that protects ``doc-by-rule`` (and no other rule)."""
    from django_preconditions.models import ProtectedEndpoint
    from django_preconditions.rules import reload_rules

    ProtectedEndpoint.objects.all().delete()
    ProtectedEndpoint.objects.create(
        view="doc-by-rule", model_label="bench_app.Doc", lookup_url_kwarg="pk"
    )
    reload_rules()


#: The function-view variants that no precondition protects (they send no ETag).
_UNPROTECTED_FN = frozenset({"fn-plain", "fn-columns"})


def _fn_client(clients: Clients, name: str) -> Client:
    return clients.rules if name == "fn-rule" else clients.plain


def fn_retrieve_group(clients: Clients) -> Group:
    ensure_view_rule()
    variants = []
    for name, label, pattern in FN_VARIANTS:
        url = pattern.format(ROWS[name])
        client = _fn_client(clients, name)
        check_status = expect(200, f"function view {label}")

        def check(
            response: HttpResponse, name: str = name, check_status: Any = check_status
        ) -> None:
            check_status(response)
            if name not in _UNPROTECTED_FN and not response.has_header("ETag"):
                raise BenchmarkError(f"{name}: not protected (no ETag)")

        variants.append(
            _variant(
                f"fn-retrieve.{name}", label, lambda url=url, c=client: c.get(url), check, url=url
            )
        )
    return Group(
        "fn-retrieve",
        "Function view retrieve (GET one document, 200)",
        variants,
        judge=_judges(
            _ratio_target("retrieve", "retrieve (decorator view)", "fn-retrieve.fn-ours"),
            _ratio_target(
                "retrieve", "retrieve (middleware-protected view)", "fn-retrieve.fn-rule"
            ),
        ),
        notes=[
            "The middleware variant's client runs PreconditionMiddleware (one admin rule); the "
            "baseline and the decorator run without middleware."
        ],
    )


def fn_update_group(clients: Clients) -> Group:
    ensure_view_rule()
    variants = []
    for name, label, pattern in FN_VARIANTS:
        url = pattern.format(ROWS[name])
        client = _fn_client(clients, name)
        state: dict[str, Any] = {"etag": client.get(url).get("ETag", ""), "counter": 0}
        variants.append(_write_variant(f"fn-update.{name}", label, client, "put", url, state))
    return Group(
        "fn-update",
        "Function view update (PUT one document, 200; every write changes the row)",
        variants,
        judge=_judges(
            _ratio_target("update", "update with If-Match (decorator view)", "fn-update.fn-ours"),
            _ratio_target(
                "update", "update with If-Match (middleware-protected view)", "fn-update.fn-rule"
            ),
        ),
    )


# --- Conditional GET answered 304 ----------------------------------------------------------


def _conditional_variant(
    key: str, label: str, client: Client, url: str, *, headers: dict[str, str] | None = None
) -> Variant:
    if headers is None:
        etag = client.get(url).get("ETag")
        if not etag:
            raise BenchmarkError(f"{key} {label}: the 200 carries no ETag")
        headers = {"If-None-Match": etag}
    return _variant(
        key,
        label,
        lambda: client.get(url, headers=headers),
        expect(304, f"{key} {label}"),
        url=url,
    )


def detail_304_group(clients: Clients) -> Group:
    plain_url = f"/drf/plain-model/docs/{ROWS['plain-model']}/"
    ours_url = f"/drf/ours/docs/{ROWS['ours']}/"
    ext_url = f"/drf/ext/docs/{ROWS['ext']}/"
    variants = [
        _variant(
            "detail-304.plain-model-200",
            "baseline: plain model + plain ModelViewSet, full 200",
            lambda: clients.plain.get(plain_url),
            expect(200, "detail plain 200"),
            url=plain_url,
        ),
        _conditional_variant(
            "detail-304.ours", "ours (PreconditionMixin), 304", clients.plain, ours_url
        ),
        _conditional_variant(
            "detail-304.ours-token",
            TOKEN_ONLY_LABEL + ", 304",
            clients.plain,
            f"/drf/ours-token/docs/{ROWS['ours-token']}/",
        ),
        _conditional_variant(
            "detail-304.conditional-get",
            "plain model + ConditionalGetMiddleware, 304",
            clients.conditional_get,
            plain_url,
        ),
        _conditional_variant(
            "detail-304.ext", "drf-extensions APIETAGMixin, 304", clients.plain, ext_url
        ),
    ]
    return Group(
        "detail-304",
        "Detail 304 (If-None-Match on one 5-field document) vs the plain 200",
        variants,
        judge=_ratio_target("detail-304", "detail 304 vs the plain 200", "detail-304.ours"),
        notes=["Each 304 variant sends the ETag its own 200 carried (If-None-Match)."],
    )


def list_group(clients: Clients, size: int) -> Group:
    """Page of ``size``: the plain 200, ours 200 and the 304s (``?page_size=``)."""
    query = f"?page_size={size}"
    plain_url = f"/drf/plain-model/docs/{query}"
    notes = []
    coverage = _list_etag_coverage(clients, size)
    notes.append(coverage.text)
    variants = [
        _variant(
            f"list-{size}.plain-model-200",
            "baseline: plain model + plain ModelViewSet, full 200",
            lambda: clients.plain.get(plain_url),
            expect(200, f"list {size} plain"),
            url=plain_url,
        ),
        _variant(
            f"list-{size}.columns-200",
            "VersionedModel + plain ModelViewSet, full 200",
            lambda: clients.plain.get(f"/drf/columns/docs/{query}"),
            expect(200, f"list {size} columns"),
            url="/drf/columns/docs/",
        ),
        _variant(
            f"list-{size}.ours-200",
            "ours (PreconditionMixin), full 200",
            lambda: clients.plain.get(f"/drf/ours/docs/{query}"),
            expect(200, f"list {size} ours"),
            url="/drf/ours/docs/",
        ),
        _conditional_variant(
            f"list-{size}.ours",
            "ours (PreconditionMixin), 304",
            clients.plain,
            f"/drf/ours/docs/{query}",
        ),
        _variant(
            f"list-{size}.ours-token-200",
            TOKEN_ONLY_LABEL + ", full 200",
            lambda: clients.plain.get(f"/drf/ours-token/docs/{query}"),
            expect(200, f"list {size} ours, token only"),
            url="/drf/ours-token/docs/",
        ),
        _conditional_variant(
            f"list-{size}.conditional-get",
            "plain model + ConditionalGetMiddleware, 304",
            clients.conditional_get,
            plain_url,
        ),
        _conditional_variant(
            f"list-{size}.ext",
            "drf-extensions APIETAGMixin, 304",
            clients.plain,
            f"/drf/ext/docs/{query}",
        ),
    ]
    judge = None
    if size == 100:

        def faster_than_ext(results: dict[str, Measurement]) -> str:
            if not coverage.ours_changed:
                return "our ETag did not change when an item of the page changed"
            if connection.vendor != "sqlite":
                return ""
            ours, ext = results["list-100.ours"], results["list-100.ext"]
            return "" if ours.median_ns < ext.median_ns else "not faster than drf-extensions' 304"

        judge = _judges(
            _ratio_target("list", "list of 100 (200)", "list-100.ours-200"),
            _ratio_target(
                "list-304", "list of 100, 304 vs the plain 200", "list-100.ours", faster_than_ext
            ),
        )
    return Group(
        f"list-{size}",
        f"List, page of {size:,}: 304 and 200 vs the plain 200",
        variants,
        judge=judge,
        notes=notes,
        curve=("list", f"{size:,}"),
        rounds_factor=0.4 if size >= 1000 else 1.0,
    )


@dataclasses.dataclass
class Coverage:
    text: str
    ours_changed: bool


def _list_etag_coverage(clients: Clients, size: int) -> Coverage:
    """Whether each list ETag changes when the last item of the page changes (checked before
    the measurement, which then uses the new ETags)."""
    from bench_app.models import Doc

    query = f"?page_size={size}"
    names = ("ours", "ext")
    before = {name: clients.plain.get(f"/drf/{name}/docs/{query}").get("ETag") for name in names}
    doc = Doc.objects.get(pk=size)
    doc.title = f"{doc.title} (edited)"
    doc.save()
    after = {name: clients.plain.get(f"/drf/{name}/docs/{query}").get("ETag") for name in names}
    changed = {name: before[name] != after[name] for name in names}
    return Coverage(
        f"Page of {size:,}: after editing item {size} (the last of the page), our collection "
        f"ETag {'changed' if changed['ours'] else 'did NOT change'}; drf-extensions' ETag "
        f"{'changed' if changed['ext'] else 'did not change (it hashes the first 20 rows only)'}.",
        changed["ours"],
    )


# --- Header sizes -------------------------------------------------------------------------------


def header_group(clients: Clients, size: int) -> Group:
    """A 304 whose If-None-Match is a list of ``size`` bytes, the matching tag last."""
    plain_url = f"/drf/plain-model/docs/{ROWS['plain-model']}/"
    ours_url = f"/drf/ours/docs/{ROWS['ours']}/"
    ours_etag = clients.plain.get(ours_url)["ETag"]
    plain_etag = clients.conditional_get.get(plain_url)["ETag"]
    variants = [
        _variant(
            f"header-{size}.plain-model-200",
            "baseline: plain model + plain ModelViewSet, full 200",
            lambda: clients.plain.get(plain_url),
            expect(200, "header plain 200"),
            url=plain_url,
        ),
        _conditional_variant(
            f"header-{size}.ours",
            "ours (PreconditionMixin), 304",
            clients.plain,
            ours_url,
            headers={"If-None-Match": tag_list(ours_etag, size)},
        ),
        _conditional_variant(
            f"header-{size}.conditional-get",
            "plain model + ConditionalGetMiddleware, 304",
            clients.conditional_get,
            plain_url,
            headers={"If-None-Match": tag_list(plain_etag, size)},
        ),
    ]
    return Group(
        f"header-{size}",
        f"If-None-Match of {size:,} bytes (a list, the matching ETag last)",
        variants,
        curve=("header", f"{size:,} B"),
    )


# --- Middleware rule lookup ---------------------------------------------------------------------


def rules_group(clients: Clients) -> Group:
    from django_preconditions import rules
    from django_preconditions.models import ProtectedEndpoint

    if not hasattr(rules, "_snapshot") or not hasattr(rules, "reload_rules"):
        raise BenchmarkError(
            "django_preconditions.rules changed: update rules_group() (it swaps the per-process "
            "rule cache between batches)"
        )
    ensure_view_rule()
    snapshots = {1: rules.reload_rules()}
    reload_ms: dict[int, float] = {}
    for count in RULE_COUNTS:
        existing = ProtectedEndpoint.objects.count() - 1
        ProtectedEndpoint.objects.bulk_create(
            ProtectedEndpoint(view=f"other/route-{index}/<int:pk>/")
            for index in range(existing, count)
        )
        started = time.perf_counter_ns()
        snapshots[count] = rules.reload_rules()
        reload_ms[count] = (time.perf_counter_ns() - started) / 1e6

    def using(count: int) -> Callable[[], None]:
        def enter() -> None:
            # The cache as a request finds it right after a reload (no query in the batch).
            rules._snapshot = dataclasses.replace(snapshots[count], loaded_at=time.monotonic())

        return enter

    url = f"/rule/docs/{ROWS['fn-rule']}/"
    check = expect(200, "rule lookup")

    def check_protected(response: HttpResponse) -> None:
        check(response)
        if not response.has_header("ETag"):
            raise BenchmarkError("rule lookup: the admin rule did not apply (no ETag)")

    variants = [
        _variant(
            f"rules.{count}",
            "only this view's admin rule" if count == 1 else f"this rule + {count:,} other rules",
            lambda: clients.rules.get(url),
            check_protected,
            enter=using(count),
            table=RULES_TABLE,
        )
        for count in (1, *RULE_COUNTS)
    ]

    def judge(results: dict[str, Measurement]) -> list[Target]:
        key = f"rules.{RULE_COUNTS[-1]}"
        measurement = results[key]
        bound = limit("rules")
        no_query = measurement.queries_note.startswith("0 ")
        return [
            Target(
                row=f"{RULE_COUNTS[-1]:,} admin rules vs one",
                variant=key,
                ratio=measurement.ratio,
                limit=f"≤ {bound:.2f}x, 0 queries",
                met=measurement.ratio <= bound and no_query,
                detail="" if no_query else f"queries: {measurement.queries_note}",
            )
        ]

    def after() -> list[str]:
        ensure_view_rule()
        return [
            f"Re-reading {count + 1:,} rules (once per RULES_REFRESH_INTERVAL per process, not "
            f"in the timed part) took {ms:.1f} ms."
            for count, ms in reload_ms.items()
        ]

    return Group(
        "rules",
        "PreconditionMiddleware admin rule lookup (GET, function view)",
        variants,
        judge=judge,
        after=after,
        notes=[
            "The view is a plain function view that loads the Doc (1 query); the admin rule "
            "names the model, so the middleware adds the ETag of the row the view loaded. Each "
            "batch starts with the per-process rule cache freshly loaded with 1, 1,001 or "
            "10,001 rules."
        ],
    )


# --- Wide rows -----------------------------------------------------------------------------------


def wide_group(clients: Clients) -> Group:
    variants = [
        _variant(
            "wide.plain-200",
            "baseline: VersionedModel + plain ModelViewSet, full 200",
            lambda: clients.plain.get("/drf/plain/wide/1/"),
            expect(200, "wide plain"),
            url="/drf/plain/wide/1/",
        ),
        _conditional_variant(
            "wide.ours", "ours (PreconditionMixin), 304", clients.plain, "/drf/ours/wide/1/"
        ),
        _conditional_variant(
            "wide.conditional-get",
            "plain + ConditionalGetMiddleware, 304",
            clients.conditional_get,
            "/drf/plain/wide/1/",
        ),
        _conditional_variant(
            "wide.ext", "drf-extensions APIETAGMixin, 304", clients.plain, "/drf/ext/wide/1/"
        ),
    ]
    return Group("wide", "Detail 304 on a 200-field object vs its full 200", variants)


# --- Admin change form ---------------------------------------------------------------------------

ADMIN_VARIANTS = (
    ("plain-model", "plain model + plain ModelAdmin", "plaindoc"),
    ("ours", "ours: VersionedModel + VersionedModelAdmin", "doc"),
    ("conc", "django-concurrency ConcurrentModelAdmin", "concdoc"),
)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def admin_group(clients: Clients) -> Group:
    """Saving the change form (POST, 302): each variant posts the hidden inputs of the page it
    read (the version fields), read again after each save, outside the timed part."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user = user_model.objects.filter(username="bench").first() or (
        user_model.objects.create_superuser("bench", "bench@example.com", "bench")
    )
    client = client_with(ADMIN_MIDDLEWARE)
    client.force_login(user)
    variants = []
    for name, label, model in ADMIN_VARIANTS:
        url = f"/admin/bench_app/{model}/{ROWS[name]}/change/"
        state: dict[str, Any] = {"counter": 0}

        def read_form(url: str = url, state: dict[str, Any] = state) -> None:
            page = client.get(url)
            if page.status_code != 200:
                raise BenchmarkError(f"admin {url}: GET answered {page.status_code}")
            hidden = {
                key: html.unescape(value)
                for key, value in _HIDDEN.findall(page.content.decode())
                if key != "csrfmiddlewaretoken"
            }
            state["counter"] += 1
            state["data"] = {
                **hidden,
                "title": f"Admin edit {state['counter']}",
                "body": "Edited in the admin.",
                "status": "draft",
                "counter": str(state["counter"]),
                "published_0": "",
                "published_1": "",
                "_save": "Save",
            }

        def check(response: HttpResponse, read_form: Any = read_form, label: str = label) -> None:
            if response.status_code != 302:
                raise BenchmarkError(
                    f"admin {label}: expected 302, got {response.status_code}: "
                    f"{response.content[:300]!r}"
                )
            read_form()

        read_form()
        variants.append(
            _variant(
                f"admin.{name}",
                label,
                lambda url=url, state=state: client.post(url, state["data"]),
                check,
            )
        )
    return Group(
        "admin",
        "Admin: save the change form (POST, 302; every save changes the row)",
        variants,
        notes=[
            "The admin client runs the session, authentication and messages middleware, logged "
            "in as a superuser; each POST sends the hidden inputs (the version) of the change "
            "page read after the previous save."
        ],
        rounds_factor=0.4,
    )


BENCHMARKS: dict[str, Callable[[Clients], list[Callable[[], Group]]]] = {
    "drf": lambda c: [lambda: retrieve_group(c), lambda: update_group(c)],
    "fn": lambda c: [lambda: fn_retrieve_group(c), lambda: fn_update_group(c)],
    "304": lambda c: [lambda: detail_304_group(c)],
    "list": lambda c: [lambda size=size: list_group(c, size) for size in PAGE_SIZES],
    "headers": lambda c: [lambda size=size: header_group(c, size) for size in HEADER_SIZES],
    "rules": lambda c: [lambda: rules_group(c)],
    "wide": lambda c: [lambda: wide_group(c)],
    "admin": lambda c: [lambda: admin_group(c)],
    "report": lambda c: [lambda: _report_mode_group(c)],
}
#: The order they run in: the middleware's groups last (see ``Clients.rules``).
ORDER = ("drf", "304", "list", "headers", "wide", "admin", "report", "fn", "rules")


def _report_mode_group(clients: Clients) -> Group:
    from .report_mode import report_mode_group  # it imports this module

    return report_mode_group(clients.plain)
