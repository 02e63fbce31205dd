"""Benchmark 5: report-only mode against enforce mode on a protected write (issue 14).

The same DRF update (``PUT`` on ``PreconditionMixin``'s viewset) in three variants, each on
its own row, with the ``PRECONDITIONS`` setting switched before each batch (outside the timed
part):

- enforce mode, with the current ``If-Match`` (the baseline);
- report mode, with the current ``If-Match``: what a client that already complies pays;
- report mode, without a precondition: the reported path (signal, log call, in-memory count;
  the database write of the count happens at most once a minute per endpoint and client).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from .requests import _next_body, expect
from .timing import Group, Measurement, Target, Variant

REPORT_TABLE = "django_preconditions_reportedrequest"
ROWS = {"enforce": 10, "report-if-match": 11, "report-unconditional": 12}


class _Settings:
    """One ``override_settings`` at a time, switched by the variants' ``enter``."""

    def __init__(self) -> None:
        self.active: Any = None

    def use(self, mode: str) -> None:
        if self.active is not None:
            self.active.disable()
        self.active = override_settings(PRECONDITIONS={"RULES_REFRESH_INTERVAL": 5.0, "MODE": mode})
        self.active.enable()


def report_mode_group(client: Client) -> Group:
    from django_preconditions import reporting

    reporting.reset_reports()
    writes = {"count": 0}
    original_write = reporting._write

    def counted_write(*args: Any) -> None:
        writes["count"] += 1
        original_write(*args)

    reporting._write = counted_write  # type: ignore[assignment]
    started = time.monotonic()
    switch = _Settings()
    variants = []
    for key, label, mode, conditional in (
        ("enforce", "enforce mode, current If-Match (200)", "enforce", True),
        ("report-if-match", "report mode, current If-Match (200)", "report", True),
        ("report-unconditional", "report mode, no precondition (200, reported)", "report", False),
    ):
        url = f"/drf/ours/docs/{ROWS[key]}/"
        switch.use(mode)
        state: dict[str, Any] = {"etag": client.get(url)["ETag"], "counter": 0}
        _next_body(state)

        def send(
            url: str = url, state: dict[str, Any] = state, conditional: bool = conditional
        ) -> HttpResponse:
            return client.put(
                url,
                data=state["body"],
                content_type="application/json",
                headers={"If-Match": state["etag"]} if conditional else {},
            )

        status_check = expect(200, label)

        def check(
            response: HttpResponse,
            state: dict[str, Any] = state,
            check_status: Callable[[HttpResponse], None] = status_check,
        ) -> None:
            check_status(response)
            state["etag"] = response["ETag"]
            _next_body(state)

        variants.append(
            Variant(
                key=f"report.{key}",
                label=label,
                send=send,
                check=check,
                enter=lambda mode=mode: switch.use(mode),
                count_queries=_count(send, check),
            )
        )

    def judge(results: dict[str, Measurement]) -> list[Target]:
        return [
            Target(
                row=f"issue 14: {label} vs enforce mode",
                variant=f"report.{key}",
                ratio=results[f"report.{key}"].ratio,
                limit="≤ 1.05x",
                met=results[f"report.{key}"].ratio <= 1.05,
            )
            for key, label in (
                ("report-if-match", "report mode, current If-Match"),
                ("report-unconditional", "report mode, no precondition"),
            )
        ]

    def restore() -> list[str]:
        switch.active.disable()
        reporting.flush_reports(force=True)
        reporting._write = original_write  # type: ignore[assignment]
        reported = sum(reporting.ReportedRequest.objects.values_list("count", flat=True))
        minutes = (time.monotonic() - started) / 60
        return [
            f"Report table: {reported:,} unconditional requests reported over "
            f"{minutes:.1f} min with {writes['count']} database write(s) of the count "
            "(the last one forced at the end of the run)."
        ]

    return Group(
        "report",
        "Report-only vs enforce mode (DRF update, PUT one Doc)",
        variants,
        judge=judge,
        after=restore,
        # At the default budget the ratio of two nearly identical paths (enforce and report mode
        # with a current If-Match) moved between 0.99x and 1.07x from run to run, more than
        # the 5 % the targets allow; four times the samples kept it within 1.01x-1.04x.
        seconds_factor=4.0,
        notes=[
            "The mode is switched (override_settings) before each batch, outside the timed "
            "part. The unconditional variant's count reaches the database once per minute "
            "per endpoint and client: the writes column counts statements on the report "
            "table over the 5 counted requests.",
        ],
    )


def _count(
    send: Callable[[], HttpResponse], check: Callable[[HttpResponse], None]
) -> Callable[[], tuple[float, str]]:
    def count() -> tuple[float, str]:
        requests = 5
        with CaptureQueriesContext(connection) as captured:
            for _ in range(requests):
                check(send())
        writes = sum(REPORT_TABLE in query["sql"] for query in captured.captured_queries)
        return len(captured.captured_queries) / requests, f"{writes} on the report table in 5"

    return count
