"""The tables, curves and targets (printed, and written into docs/performance.md by
``--write-docs``).

The in-process results of each database arrive as plain data (``group_data()``, JSON between
processes): one dict per database with its groups, each with its rows and judged targets.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .throughput import PHASES, ThroughputResult
from .timing import Group, Measurement, Target

DOCS_PAGE = Path(__file__).resolve().parent.parent.parent / "docs" / "performance.md"
VENDOR_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
THROUGHPUT_ROW = "HTTP throughput of protected writes under contention vs select_for_update"


def group_data(
    group: Group, measurements: dict[str, Measurement], targets: list[Target], notes: list[str]
) -> dict[str, Any]:
    rows = []
    for index, variant in enumerate(group.variants):
        measurement = measurements[variant.key]
        low, high = measurement.ratio_quartiles
        rows.append(
            {
                "key": variant.key,
                "label": variant.label,
                "median_ns": measurement.median_ns,
                "ratio": measurement.ratio,
                "low": low,
                "high": high,
                "queries": measurement.queries,
                "queries_note": measurement.queries_note,
                "baseline": index == 0,
            }
        )
    return {
        "key": group.key,
        "title": group.title,
        "curve": list(group.curve) if group.curve else None,
        "rows": rows,
        "targets": [dataclasses.asdict(target) for target in targets],
        "notes": notes,
    }


def duration(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} µs"


def _queries(row: dict[str, Any]) -> str:
    text = f"{row['queries']:g}"
    return f"{text} ({row['queries_note']})" if row["queries_note"] else text


def load_text(load: Sequence[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in load)


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("yes" if met else "**NO**")


def latency_table(database: dict[str, Any]) -> str:
    lines = [
        "| Benchmark | Variant | Median | x baseline (IQR over rounds) | SQL queries / request "
        "| Target | Met? |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for group in database["groups"]:
        targets = {target["variant"]: target for target in group["targets"]}
        for index, row in enumerate(group["rows"]):
            ratio = (
                "baseline"
                if row["baseline"]
                else f"**{row['ratio']:.3f}x** ({row['low']:.2f}-{row['high']:.2f})"
            )
            target = targets.get(row["key"])
            lines.append(
                f"| {group['title'] if index == 0 else ''} | {row['label']} "
                f"| {duration(row['median_ns'])} | {ratio} | {_queries(row)} "
                f"| {target['limit'] if target else ''} "
                f"| {_verdict(target['met']) if target else ''} |"
            )
    return "\n".join(lines)


def curve_tables(database: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, table) per curve: one line per point, the ratio of each variant to the
    point's baseline (and the baseline's median)."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for group in database["groups"]:
        if group["curve"]:
            curves.setdefault(group["curve"][0], []).append(group)
    titles = {
        "list": "List: cost by page size (x the plain model's 200 of the same page)",
        "header": "If-None-Match size: cost up to the server's limit (x the plain 200)",
    }
    point_names = {"list": "Page size", "header": "Header value"}
    tables = []
    for name, groups in curves.items():
        labels = [row["label"] for row in groups[0]["rows"]]
        lines = [
            f"| {point_names.get(name, 'Point')} | {labels[0]} (median) | "
            + " | ".join(labels[1:])
            + " |",
            "| --- | ---: | " + " | ".join("---:" for _ in labels[1:]) + " |",
        ]
        for group in groups:
            rows = group["rows"]
            lines.append(
                f"| {group['curve'][1]} | {duration(rows[0]['median_ns'])} | "
                + " | ".join(f"{row['ratio']:.3f}x" for row in rows[1:])
                + " |"
            )
        tables.append((titles.get(name, name), "\n".join(lines)))
    return tables


def _throughput_target(result: ThroughputResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    contention = result.tallies["contention"]
    locked = contention["locked"].writes_per_second
    ratio = contention["ours"].writes_per_second / locked if locked else 0.0
    safe = all(t.lost_updates == 0 and t.duplicate_etags == 0 for t in contention.values())
    return {
        "row": THROUGHPUT_ROW,
        "ratio": ratio,
        "limit": "≥ 1.00x",
        "met": ratio >= 1.0 and safe,
        "detail": "" if safe else "lost updates or duplicate ETags",
    }


def summary_table(databases: list[dict[str, Any]], throughput: ThroughputResult | None) -> str:
    """ours / plain model per target of the issue, one column pair per database."""
    vendors = [database["vendor"] for database in databases]
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for database in databases:
        for group in database["groups"]:
            for target in group["targets"]:
                rows.setdefault(target["row"], {})[database["vendor"]] = target
    through = _throughput_target(throughput)
    if through is not None:
        rows.setdefault(THROUGHPUT_ROW, {})["postgresql-http"] = through
        if "postgresql" not in vendors:
            vendors.append("postgresql")
    header = "| Operation (ours / plain model) |"
    rule = "| --- |"
    for vendor in vendors:
        name = VENDOR_NAMES.get(vendor, vendor)
        header += f" {name} | target | met? |"
        rule += " ---: | --- | --- |"
    lines = [header, rule]
    for name, by_vendor in rows.items():
        line = f"| {name} |"
        for vendor in vendors:
            target = by_vendor.get(vendor) or (
                by_vendor.get("postgresql-http") if vendor == "postgresql" else None
            )
            if target is None:
                line += " not measured | | |"
                continue
            detail = f" ({target['detail']})" if target["detail"] else ""
            line += (
                f" {target['ratio']:.3f}x | {target['limit']} | {_verdict(target['met'])}{detail} |"
            )
        lines.append(line)
    return "\n".join(lines)


def unmet(databases: list[dict[str, Any]], throughput: ThroughputResult | None) -> list[str]:
    lines = []
    for database in databases:
        name = VENDOR_NAMES.get(database["vendor"], database["vendor"])
        for group in database["groups"]:
            for target in group["targets"]:
                if not target["met"]:
                    detail = f"; {target['detail']}" if target["detail"] else ""
                    lines.append(
                        f"{name}: {target['row']}: {target['ratio']:.3f}x, target "
                        f"{target['limit']}{detail}."
                    )
    through = _throughput_target(throughput)
    if through is not None and not through["met"]:
        lines.append(
            f"PostgreSQL over HTTP: {through['row']}: {through['ratio']:.2f}x, target "
            f"{through['limit']}."
        )
    return lines


def throughput_tables(result: ThroughputResult) -> list[tuple[str, str]]:
    tables = []
    for phase in PHASES:
        tallies = result.tallies[phase.key]
        baseline_key = phase.endpoints[-1].key if phase.shared_row else phase.endpoints[0].key
        base = tallies[baseline_key].writes_per_second
        lines = [
            "| Variant | Successful requests/s | x baseline | Attempts | 412 | Other errors "
            "| Lost updates | Duplicate ETags |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for endpoint in phase.endpoints:
            tally = tallies[endpoint.key]
            ratio = (
                "baseline"
                if endpoint.key == baseline_key
                else f"**{tally.writes_per_second / base:.2f}x**"
                if base
                else "-"
            )
            lost = str(tally.lost_updates) if phase.shared_row else "-"
            duplicates = str(tally.duplicate_etags) if endpoint.conditional else "-"
            lines.append(
                f"| {endpoint.label} | {tally.writes_per_second:.0f} | {ratio} "
                f"| {tally.attempts:,} | {tally.conflicts:,} | {tally.errors:,} | {lost} "
                f"| {duplicates} |"
            )
        tables.append((phase.title, "\n".join(lines)))
    return tables


def header_limit_text(result: ThroughputResult) -> str:
    parts = [
        f"{size:,} bytes → {status or 'connection closed'}" for size, status in result.header_limit
    ]
    return (
        "Server limit, one conditional GET each through gunicorn (If-None-Match value "
        "size → status): " + "; ".join(parts) + "."
    )


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def machine_facts() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; "
        f"load average at start {load_text(os.getloadavg())}",
        f"Python {platform.python_version()}, Django {_version('Django')}, "
        f"Django REST framework {_version('djangorestframework')}, "
        f"drf-extensions {_version('drf-extensions')}, "
        f"django-concurrency {_version('django-concurrency')}, "
        f"django-preconditions {_version('django-preconditions')}",
    ]


def _database_sections(database: dict[str, Any], level: str) -> list[str]:
    name = VENDOR_NAMES.get(database["vendor"], database["vendor"])
    sections = [
        f"{level} {name}: latency and queries",
        "",
        f"{database['database']}; {database['plan']}; load average "
        f"{load_text(database['load'][0])} at start, {load_text(database['load'][1])} at end.",
        "",
        latency_table(database),
        "",
    ]
    for title, table in curve_tables(database):
        sections += [f"{level}# {name}: {title}", "", table, ""]
    notes = [note for group in database["groups"] for note in group["notes"]]
    if notes:
        sections += ["Notes:", "", *(f"- {note}" for note in notes), ""]
    return sections


def _throughput_sections(
    result: ThroughputResult | None, skipped: str | None, level: str
) -> list[str]:
    sections = [f"{level} PostgreSQL over HTTP (gunicorn)", ""]
    if result is None:
        return [*sections, f"Not run: {skipped}.", ""]
    sections += [
        f"{result.clients} client processes, {result.server}, {result.seconds_per_variant:g} s "
        "per variant in 2 interleaved slices. A lost update would show as a final counter "
        "lower than the number of successful writes.",
        "",
    ]
    for title, table in throughput_tables(result):
        sections += [f"{level}# {title}", "", table, ""]
    if result.header_limit:
        sections += [header_limit_text(result), ""]
    return sections


def text_report(
    databases: list[dict[str, Any]],
    skipped_databases: list[str],
    throughput: ThroughputResult | None,
    skipped: str | None,
    facts: list[str],
) -> str:
    sections = [*facts, ""]
    for line in skipped_databases:
        sections.append(f"In-process database skipped: {line}")
    for database in databases:
        sections += _database_sections(database, "##")
    sections += _throughput_sections(throughput, skipped, "##")
    sections += ["## Targets of issue 12 (ours / plain model, side by side in one run)", ""]
    sections += [summary_table(databases, throughput), ""]
    missed = unmet(databases, throughput)
    sections.append("Targets: all met." if not missed else "Targets NOT met:")
    sections += [f"  - {line}" for line in missed]
    return "\n".join(sections)


def write_docs(
    databases: list[dict[str, Any]],
    skipped_databases: list[str],
    throughput: ThroughputResult | None,
    skipped: str | None,
    facts: list[str],
    command: str,
    total_seconds: float,
) -> Path:
    missed = unmet(databases, throughput)
    sections = [
        "# Performance",
        "",
        "<!-- Generated by benchmarks/run.py --write-docs: edit benchmarks/suite/report.py, "
        "not this page. -->",
        "",
        "What adopting django-preconditions costs, measured against what a project has "
        "*before* adopting it: a plain `models.Model` with the same fields behind a plain "
        "`ModelViewSet` or a plain function view. Numbers measured side by side in one run of "
        "the benchmarks in `benchmarks/`. Regenerate this page with:",
        "",
        "```bash",
        command,
        "```",
        "",
        "(`make bench` runs the same benchmarks and prints the tables without writing this "
        f"page; `--quick` is a short smoke run.) This run took {total_seconds:.0f} s.",
        "",
        "## Targets",
        "",
        summary_table(databases, throughput),
        "",
    ]
    if missed:
        sections += ["Not met in this run:", "", *(f"- {line}" for line in missed), ""]
        sections += ["See [Where the time goes](#where-the-time-goes).", ""]
    else:
        sections += ["All targets were met in this run.", ""]
    sections += [
        "## Where and when",
        "",
        *(f"- {fact}" for fact in facts),
        *(f"- In-process database skipped: {line}" for line in skipped_databases),
        "",
        *METHOD,
    ]
    for database in databases:
        sections += _database_sections(database, "##")
    sections += _throughput_sections(throughput, skipped, "##")
    sections += WHERE_THE_TIME_GOES
    DOCS_PAGE.write_text("\n".join(sections).rstrip() + "\n", encoding="utf-8")
    return DOCS_PAGE


METHOD = [
    "## How it is measured",
    "",
    "- **The baseline** is a plain `models.Model` (`PlainDoc`: title, body, status, counter, "
    "published) behind a plain `ModelViewSet` or a plain function view: what a project has "
    "before adopting the app. Ours is the same fields on a `VersionedModel` (two more "
    "columns: `version_token`, `last_modified`) behind `PreconditionMixin`, "
    "`@require_preconditions` or a plain view protected by an admin rule through "
    "`PreconditionMiddleware`. *VersionedModel + plain ModelViewSet* and *VersionedModel + "
    "plain function view* show what the two columns cost alone. *Ours, token only* is the same over a `VersionedModel` that removes "
    "`last_modified` (`last_modified = None`: one more column, no `Last-Modified`; "
    "[models](models.md#versioned-by-the-token-alone)); shown beside ours, not judged: the "
    "targets are judged on `VersionedModel` as it comes. drf-extensions' `APIETAGMixin`, "
    "django-concurrency "
    "(`IntegerVersionField`, the version in the serializer, `ConcurrencyMiddleware`) and "
    "Django's `ConditionalGetMiddleware` are measured beside them.",
    "- **Every write changes the row** (a new title and counter each time): SQLite skips "
    "writing a row whose values do not change, which would measure a no-op.",
    "- **In process**, once per database (SQLite, then PostgreSQL), each in its own process, "
    "through Django's test `Client`: the whole Django handler (URL resolving, middleware, "
    "view, rendering), no socket. The variants of a group are measured in rounds (each round "
    "runs a batch of every variant, in a rotated order), after a warm-up; timings use "
    "`time.perf_counter_ns()` around the request only. *Median* is the median of all "
    "requests of the variant; *x baseline* is the median over rounds of the ratio of the "
    "variant's median to the baseline's median in the same round, with the interquartile "
    "range of those per-round ratios. SQL queries are counted apart from the timed requests.",
    "- **URL resolving is the same for every variant**: each is measured with a URLconf "
    "that tries its own routes first (switched before each batch, untimed). In one URLconf "
    "shared by all, a variant whose route is listed later would pay a failed match for each "
    "pattern before it, a cost of the benchmark, not of the variant.",
    "- **Curves**: page sizes 10, 100 and 1,000 (`?page_size=`) for the collection ETag and "
    "the list 304; If-None-Match values from 64 bytes up to gunicorn's header-line limit "
    "(8,190 bytes); 1, 1,001 and 10,001 admin rules in the per-process rule cache.",
    "- **Over HTTP**: gunicorn on the loopback interface, PostgreSQL, client processes "
    "started at a barrier, for a fixed time, the variants of each phase interleaved in "
    "slices: reads, writes without conflicts, and protected writes under contention (every "
    "client on one row, GET → PUT with If-Match → on 412 GET again) against the same "
    "endpoint written with `select_for_update()`.",
    "",
]

# Facts about the code paths (not about one run's numbers); `benchmarks/run.py --profile KEY`
# prints a profile of any variant.
WHERE_THE_TIME_GOES = [
    "## Where the time goes",
    "",
    "Profile any variant with `.venv/bin/python benchmarks/run.py --profile KEY "
    "[--profiler pyinstrument] [--databases postgres]` (keys such as `retrieve.ours`, "
    "`update.ours`, `list-100.ours`, `detail-304.ours`, `rules.10000`; an unknown key lists "
    "them all).",
    "",
    "Count instructions instead of time with `.venv/bin/python benchmarks/instructions.py KEY...` "
    "(valgrind's callgrind: the same count within about 0.5 % from run to run, where timings on "
    "a shared machine move by a few percent), and see what each step of a protected DRF "
    "`PATCH` costs with `benchmarks/instructions.py --breakdown update` (the compare-and-swap "
    "save, loading and checking the object, evaluating `If-Match`, the new validators, the "
    "mixin's other DRF hooks, keeping the body for a retry). No step dominates: the cost is "
    "many small Python calls, "
    "each a few thousand instructions.",
    "",
    "Time and instructions do not agree: on SQLite the DRF retrieve is about 1.08x the plain "
    "model in instructions and more than 1.1x in time. Code that runs once per request runs "
    "slower per "
    "instruction than the loops Django runs for every field and row: it is not in the "
    "processor's caches when the request reaches it. `Snapshot.of_instance()` (the loaded "
    "object's ETag and dates) takes 2.3 µs called in a loop and about 10 µs inside a request "
    "(median of 3,000 requests, timed around the call); whichever code first touches the "
    "loaded `last_modified` in a request pays 2-4 µs for it. So removing a call from our "
    "path gains more time than its instructions suggest, and measuring a step in a loop "
    "(`timeit`) understates what it costs a request.",
    "",
    "- **Retrieve** through `PreconditionMixin` adds, after DRF's `get_object()`: the view's "
    "policy, the evaluation of the conditional headers against the loaded object, and "
    "`ETag`/`Last-Modified` on the response. No query. Part of the difference to the plain "
    "model is the two extra columns (see *VersionedModel + plain ModelViewSet*).",
    "- **The two columns** cost what Django pays for any two more columns: compiling them "
    "into every `SELECT` and building them into every instance, and on SQLite converting "
    "`last_modified` from text to an aware datetime, about ten Python calls per row in "
    "Django's SQLite backend. On PostgreSQL too the conversion is Python: Django registers "
    "its own `timestamptz` loader, a subclass of psycopg's pure-Python one (regular "
    "expression, `astimezone()`, `replace()` per row), so even psycopg's C build does not "
    "help. On a page of 100 that is most of the difference between *VersionedModel + plain "
    "ModelViewSet* and the plain model; *ours, token only* shows what is left without "
    "`last_modified`. A plain function view does far less than DRF, so the same fixed cost (the "
    "columns, the evaluation, the validators) is a larger share of the decorator and "
    "middleware rows; *VersionedModel + plain function view* shows the columns' part.",
    "- **Update** adds the same, plus the compare-and-swap: the `UPDATE` gets one more "
    "`WHERE version_token = …` term (no extra statement), a new token and `last_modified`.",
    "- A **detail 304** is decided right after `get_object()`: one query, no serializer, no "
    "rendering.",
    "- A **list 304** uses the collection ETag, a digest of the primary key and version "
    "token of every object on the page and of the page's envelope (count, links), read by "
    "one query (the token-only page with its `COUNT(*)` as a subquery) without loading a "
    "row. Its cost grows "
    "with the page: every pair of the page is fetched and hashed (on SQLite, fetching the "
    "pairs is most of the difference between a page of 100 and one of 1,000).",
    "- drf-extensions answers 304 before the view runs, from two queries (`COUNT` and a "
    "`values_list()` of the queryset) hashed as the queryset's `repr()`, which Django "
    "truncates to the first 20 rows: on a page of 100 items, a change to items 21-100 "
    "does not change its ETag — and its cost does not grow with the page, which is why it "
    "can answer a page of 1,000 faster than a tag that covers the whole page. On writes "
    "it compares If-Match in a read before the view "
    "runs and then saves without a condition, so two writers holding the same ETag can "
    "both succeed.",
    "- django-concurrency sends the version in the body and checks it in `save()` "
    "(`UPDATE … WHERE version = …`); it has no ETag, no 304 and no 428.",
    "- `ConditionalGetMiddleware` runs the whole view, renders the body and hashes it; it "
    "saves only the bytes on the wire.",
]
