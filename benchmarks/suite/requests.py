"""Benchmarks 1-3, in process, through Django's test ``Client``.

The test client builds a WSGI request and runs Django's whole handler (URL resolving,
middleware, view, rendering) without a socket: what is measured is the Django side of a
request, the same for every variant, plus the variant's own work. Each variant reads and
writes its own rows, so that one variant's writes never change another's ETags.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from .timing import Group, Measurement, Variant

CONDITIONAL_GET = "django.middleware.http.ConditionalGetMiddleware"
PRECONDITION_MIDDLEWARE = "django_preconditions.middleware.PreconditionMiddleware"
OTHER_RULES = 1000
RULES_TABLE = "django_preconditions_protectedendpoint"


class BenchmarkError(AssertionError):
    """A variant answered something else than the benchmark expects: the numbers would be
    meaningless, so the run stops."""


def client_with(middleware: list[str]) -> Client:
    """A test client whose handler runs exactly ``middleware`` (loaded once, now)."""
    client = Client()
    with override_settings(MIDDLEWARE=middleware):
        client.handler.load_middleware()
    return client


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
) -> Variant:
    return Variant(
        key=key,
        label=label,
        send=send,
        check=check,
        enter=enter,
        count_queries=queries_per_request(send, check, table=table),
    )


# --- 1. DRF retrieve and update --------------------------------------------------------------

DRF_VARIANTS = (
    ("plain", "plain ModelViewSet"),
    ("ours", "ours (PreconditionMixin)"),
    ("ext", "drf-extensions APIETAGMixin"),
)


def retrieve_group(client: Client) -> Group:
    variants = []
    for name, label in DRF_VARIANTS:
        url = f"/drf/{name}/docs/{_row(name)}/"
        variants.append(
            _variant(
                f"retrieve.{name}",
                label,
                lambda url=url: client.get(url),
                expect(200, f"retrieve {label}"),
            )
        )
    return Group(
        "retrieve",
        "DRF retrieve (GET one Doc, 200)",
        variants,
        judge=_judge_drf("retrieve"),
    )


def update_group(client: Client) -> Group:
    variants = []
    for name, label in DRF_VARIANTS:
        url = f"/drf/{name}/docs/{_row(name)}/"
        first = client.get(url)
        state = {"etag": first.get("ETag", ""), "counter": 0}

        def send(url: str = url, state: dict[str, Any] = state) -> HttpResponse:
            return client.put(
                url,
                data=state["body"],
                content_type="application/json",
                headers={"If-Match": state["etag"]} if state["etag"] else {},
            )

        check_status = expect(200, f"update {label}")

        def check(
            response: HttpResponse,
            state: dict[str, Any] = state,
            check_status: Callable[[HttpResponse], None] = check_status,
        ) -> None:
            check_status(response)
            state["etag"] = response.get("ETag", "")  # the next update sends the new ETag
            _next_body(state)

        _next_body(state)
        variants.append(_variant(f"update.{name}", label, send, check))
    return Group(
        "update",
        "DRF update (PUT one Doc with If-Match, 200)",
        variants,
        judge=_judge_drf("update"),
        notes=["Each PUT sends the ETag of the previous response (the current one)."],
    )


def _next_body(state: dict[str, Any]) -> None:
    state["counter"] += 1
    state["body"] = json.dumps(
        {
            "title": f"Updated {state['counter']}",
            "body": "Edited text.",
            "status": "draft",
            "counter": state["counter"],
            "published": None,
        }
    )


def _row(name: str) -> int:
    """The Doc each DRF variant reads and writes (its own, so ETags never cross)."""
    return {"plain": 1, "ours": 2, "ext": 3}[name]


def _judge_drf(prefix: str) -> Callable[[dict[str, Measurement]], dict[str, tuple[str, bool]]]:
    def judge(results: dict[str, Measurement]) -> dict[str, tuple[str, bool]]:
        ours, ext = results[f"{prefix}.ours"], results[f"{prefix}.ext"]
        met = ours.ratio <= 1.05 and ours.queries < ext.queries
        return {f"{prefix}.ours": ("≤ 1.05x plain; fewer queries than drf-extensions", met)}

    return judge


# --- 2. Conditional GET answered 304 ----------------------------------------------------------


NOT_MODIFIED_RESOURCES = {
    "list": ("304 on a page of 100 Docs (list)", "docs/"),
    "wide": ("304 on a 200-field object (detail)", "wide/1/"),
}


def not_modified_group(client: Client, resource: str) -> Group:
    conditional_client = client_with([CONDITIONAL_GET])
    title, path = NOT_MODIFIED_RESOURCES[resource]
    notes = ["Each 304 variant sends the ETag its own 200 carried (If-None-Match)."]
    if resource == "list":
        notes.append(_list_etag_coverage(client))
    variants = [
        _variant(
            f"{resource}.plain-200",
            "baseline: plain ModelViewSet, full 200",
            lambda path=path: client.get(f"/drf/plain/{path}"),
            expect(200, f"{resource} plain"),
        ),
        _variant(
            f"{resource}.ours-200",
            "ours (PreconditionMixin), full 200",
            lambda path=path: client.get(f"/drf/ours/{path}"),
            expect(200, f"{resource} ours 200"),
        ),
    ]
    for key, label, the_client, url in (
        ("ours", "ours (PreconditionMixin), 304", client, f"/drf/ours/{path}"),
        (
            "conditional-get",
            "plain + ConditionalGetMiddleware, 304",
            conditional_client,
            f"/drf/plain/{path}",
        ),
        ("ext", "drf-extensions APIETAGMixin, 304", client, f"/drf/ext/{path}"),
    ):
        etag = the_client.get(url).get("ETag")
        if not etag:
            raise BenchmarkError(f"{resource} {label}: the 200 carries no ETag")
        variants.append(
            _variant(
                f"{resource}.{key}",
                label,
                lambda the_client=the_client, url=url, etag=etag: the_client.get(
                    url, headers={"If-None-Match": etag}
                ),
                expect(304, f"{resource} {label}"),
            )
        )
    return Group(
        resource,
        title,
        variants,
        judge=_judge_not_modified(resource),
        notes=notes,
    )


def _list_etag_coverage(client: Client) -> str:
    """Whether each list ETag changes when the 50th item of the page changes (checked
    before the measurement, which then uses the new ETags)."""
    from bench_app.models import Doc

    before = {name: client.get(f"/drf/{name}/docs/").get("ETag") for name in ("ours", "ext")}
    doc = Doc.objects.get(pk=50)
    doc.title = f"{doc.title} (edited)"
    doc.save()
    after = {name: client.get(f"/drf/{name}/docs/").get("ETag") for name in ("ours", "ext")}
    changed = {name: before[name] != after[name] for name in before}
    return (
        "Checked in this run: after editing the 50th item of the page, our collection ETag "
        f"{'changed' if changed['ours'] else 'did NOT change'}; drf-extensions' ETag "
        f"{'changed' if changed['ext'] else 'did not change (it hashes the first 20 rows only)'}."
    )


def _judge_not_modified(
    resource: str,
) -> Callable[[dict[str, Measurement]], dict[str, tuple[str, bool]]]:
    def judge(results: dict[str, Measurement]) -> dict[str, tuple[str, bool]]:
        ours = results[f"{resource}.ours"]
        others = (results[f"{resource}.conditional-get"], results[f"{resource}.ext"])
        met = ours.ratio <= 0.5 and all(ours.median_ns < other.median_ns for other in others)
        return {f"{resource}.ours": ("≤ 0.5x the full 200; faster than both others", met)}

    return judge


# --- 3. Middleware rule lookup ---------------------------------------------------------------


def rules_group() -> Group:
    from django_preconditions.models import ProtectedEndpoint
    from django_preconditions.rules import reload_rules

    client = client_with([PRECONDITION_MIDDLEWARE])
    ProtectedEndpoint.objects.all().delete()
    ProtectedEndpoint.objects.create(
        view="doc-by-rule", model_label="bench_app.Doc", lookup_url_kwarg="pk"
    )

    def delete_other_rules() -> None:
        # Raw SQL: a queryset delete() would fetch the rows and send a signal per row, which
        # only slows the switch between the two variants (it is outside the timed part).
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {RULES_TABLE} WHERE view <> %s",
                ["doc-by-rule"],
            )

    def only_this_rule() -> None:
        if ProtectedEndpoint.objects.count() != 1:
            delete_other_rules()
        reload_rules()

    def with_other_rules() -> None:
        if ProtectedEndpoint.objects.count() != OTHER_RULES + 1:
            delete_other_rules()
            ProtectedEndpoint.objects.bulk_create(
                ProtectedEndpoint(view=f"other/route-{index}/<int:pk>/")
                for index in range(OTHER_RULES)
            )
        reload_rules()

    url = "/rule/docs/4/"
    check = expect(200, "rule lookup")

    def check_protected(response: HttpResponse) -> None:
        check(response)
        if not response.has_header("ETag"):
            raise BenchmarkError("rule lookup: the admin rule did not apply (no ETag)")

    variants = [
        _variant(
            "rules.one",
            "only this view's admin rule",
            lambda: client.get(url),
            check_protected,
            enter=only_this_rule,
            table=RULES_TABLE,
        ),
        _variant(
            "rules.many",
            f"this rule + {OTHER_RULES:,} other admin rules",
            lambda: client.get(url),
            check_protected,
            enter=with_other_rules,
            table=RULES_TABLE,
        ),
    ]

    def reload_cost() -> list[str]:
        with_other_rules()
        timings = []
        with CaptureQueriesContext(connection) as captured:
            for _ in range(20):
                started = time.perf_counter_ns()
                reload_rules()
                timings.append(time.perf_counter_ns() - started)
        only_this_rule()
        return [
            f"Re-reading {OTHER_RULES + 1:,} rules (once per RULES_REFRESH_INTERVAL per "
            f"process) takes {statistics.median(timings) / 1e6:.1f} ms and "
            f"{len(captured.captured_queries) / 20:g} query."
        ]

    def judge(results: dict[str, Measurement]) -> dict[str, tuple[str, bool]]:
        many = results["rules.many"]
        met = many.ratio <= 1.02 and many.queries_note.startswith("0 ")
        return {"rules.many": ("≤ 1.02x no other rules; 0 queries for rules", met)}

    return Group(
        "rules",
        "PreconditionMiddleware, admin rule lookup (GET, function view)",
        variants,
        judge=judge,
        after=reload_cost,
        notes=[
            "The view is a plain function view that loads the Doc (1 query); the admin rule "
            "names the model, so the middleware adds the ETag of the row the view loaded. The "
            "rules come from the "
            "per-process cache (re-read every RULES_REFRESH_INTERVAL = 5 s, not in the timed "
            "part: each batch starts right after a reload).",
        ],
    )
