"""The results table (printed, and written into docs/performance.md by ``--write-docs``)."""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .throughput import ThroughputResult
from .timing import Group, Measurement

DOCS_PAGE = Path(__file__).resolve().parent.parent.parent / "docs" / "performance.md"


@dataclass
class GroupResult:
    group: Group
    measurements: dict[str, Measurement]
    targets: dict[str, tuple[str, bool]]
    notes: list[str]


def duration(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} µs"


def queries(measurement: Measurement) -> str:
    text = f"{measurement.queries:g}"
    return f"{text} ({measurement.queries_note})" if measurement.queries_note else text


def latency_table(results: list[GroupResult]) -> str:
    lines = [
        "| Benchmark | Variant | Median | x baseline (IQR over rounds) | SQL queries / request "
        "| Target | Target met? |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for result in results:
        first = True
        for variant in result.group.variants:
            measurement = result.measurements[variant.key]
            low, high = measurement.ratio_quartiles
            ratio = (
                "baseline"
                if variant is result.group.variants[0]
                else f"**{measurement.ratio:.3f}x** ({low:.2f}-{high:.2f})"
            )
            target, met = result.targets.get(variant.key, ("", None))
            verdict = "" if met is None else ("yes" if met else "**NO**")
            lines.append(
                f"| {result.group.title if first else ''} | {variant.label} "
                f"| {duration(measurement.median_ns)} | {ratio} | {queries(measurement)} "
                f"| {target} | {verdict} |"
            )
            first = False
    return "\n".join(lines)


def throughput_table(result: ThroughputResult) -> str:
    locked = result.tallies["locked"].writes_per_second
    labels = {
        "ours": "ours (require_preconditions: compare-and-swap UPDATE)",
        "locked": "select_for_update() + If-Match compared in the view",
    }
    lines = [
        "| Variant | Successful writes/s | x select_for_update | Write attempts | 412 "
        "| Other errors | Lost updates | Duplicate ETags |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, tally in result.tallies.items():
        ratio = "baseline" if key == "locked" else f"**{tally.writes_per_second / locked:.2f}x**"
        lines.append(
            f"| {labels[key]} | {tally.writes_per_second:.0f} | {ratio} | {tally.attempts:,} "
            f"| {tally.conflicts:,} | {tally.errors:,} | {tally.lost_updates} "
            f"| {tally.duplicate_etags} |"
        )
    return "\n".join(lines)


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def machine_facts(database: str, throughput_server: str | None) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    facts = [
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; "
        f"load average at start {load}",
        f"Python {platform.python_version()}, Django {_version('Django')}, "
        f"Django REST framework {_version('djangorestframework')}, "
        f"drf-extensions {_version('drf-extensions')}, "
        f"django-preconditions {_version('django-preconditions')}",
        f"Database of benchmarks 1-3: {database}",
    ]
    if throughput_server:
        facts.append(f"Benchmark 4: {throughput_server}")
    return facts


def unmet(results: list[GroupResult]) -> list[str]:
    lines = []
    for result in results:
        for key, (target, met) in result.targets.items():
            if not met:
                measurement = result.measurements[key]
                lines.append(
                    f"{result.group.title}, {measurement.variant.label}: target {target} "
                    f"not met (measured {measurement.ratio:.3f}x the baseline, "
                    f"{duration(measurement.median_ns)}, {queries(measurement)} queries)."
                )
    return lines


def write_docs(
    results: list[GroupResult],
    throughput: ThroughputResult | None,
    throughput_skipped: str | None,
    facts: list[str],
    command: str,
    total_seconds: float,
) -> Path:
    sections = [
        "# Performance",
        "",
        "<!-- Generated by benchmarks/run.py --write-docs: edit benchmarks/suite/report.py, "
        "not this page. -->",
        "",
        "Numbers measured side by side in one run of the benchmarks in `benchmarks/`. "
        "Regenerate this page with:",
        "",
        "```bash",
        command,
        "```",
        "",
        "(`make bench` runs the same benchmarks and prints the tables without writing this "
        f"page; `--quick` is a short smoke run.) This run took {total_seconds:.0f} s.",
        "",
        "## Where and when",
        "",
        *(f"- {fact}" for fact in facts),
        "",
        "## How it is measured",
        "",
        "- Benchmarks 1-3 run in one process through Django's test `Client`: the whole "
        "Django handler (URL resolving, middleware, view, rendering), no socket. Each "
        "benchmark project view differs from the baseline only by the conditional-request "
        "machinery (same model, serializer, pagination).",
        "- The variants of a benchmark are measured in rounds (each round runs a batch of "
        "every variant, in a rotated order), after a warm-up; timings use "
        "`time.perf_counter_ns()` around the request only. *Median* is the median of all "
        "requests of the variant; *x baseline* is the median over rounds of the ratio of "
        "the variant's median to the baseline's median in the same round, with the "
        "interquartile range of those per-round ratios.",
        "- SQL queries are counted apart from the timed requests (a few requests with "
        "query capture on).",
        "- Benchmark 4 is a real deployment shape: gunicorn on the loopback interface, "
        "PostgreSQL, client processes started at a barrier, each looping GET → write with "
        "If-Match → on 412 GET again, for a fixed time; the variants are interleaved in "
        "slices.",
        "",
        "## Results: latency and queries",
        "",
        latency_table(results),
        "",
    ]
    notes = [note for result in results for note in result.notes]
    if notes:
        sections += ["Notes:", "", *(f"- {note}" for note in notes), ""]
    missed = unmet(results)
    sections += ["## Targets", ""]
    if missed:
        sections += [
            "Not met in this run:",
            "",
            *(f"- {line}" for line in missed),
            "",
            "See [Where the time goes](#where-the-time-goes).",
            "",
        ]
    else:
        sections += ["All latency and query targets were met in this run.", ""]
    sections += ["## Results: conditional writes under contention", ""]
    if throughput is not None:
        sections += [
            f"{throughput.clients} client processes, {throughput.server}, "
            f"{throughput.seconds_per_variant:g} s per variant, all clients on one row per "
            "variant. A lost update would show as a final counter lower than the number of "
            "successful writes. Our 412s carry a problem-details body (the current ETag, "
            "the steps to retry); the hand-written view answers an empty 412.",
            "",
            throughput_table(throughput),
            "",
        ]
    else:
        sections += [f"Not run: {throughput_skipped}.", ""]
    sections += WHERE_THE_TIME_GOES
    DOCS_PAGE.write_text("\n".join(sections).rstrip() + "\n", encoding="utf-8")
    return DOCS_PAGE


# Facts about the code paths (not about one run's numbers); `benchmarks/run.py --profile KEY`
# prints a cProfile of any variant.
WHERE_THE_TIME_GOES = [
    "## Where the time goes",
    "",
    "Profile any variant with `.venv/bin/python benchmarks/run.py --profile KEY` (keys such "
    "as `retrieve.ours`, `update.ours`, `list.ours`, `wide.ours`, `rules.many`; an unknown "
    "key lists them all).",
    "",
    "- **Retrieve** through `PreconditionMixin` adds, after DRF's `get_object()`: resolving "
    "the view's policy from the settings, parsing the conditional headers, evaluating them "
    "against the loaded object, and setting `ETag`/`Last-Modified` on the response. No query.",
    "- **Update** adds the same, plus the compare-and-swap: the `UPDATE` gets one more "
    "`WHERE version_token = …` term, which Django's ORM builds and compiles on every save "
    "(no extra statement), and the new validators on the response.",
    "- A **detail 304** (`If-None-Match` on one object) is decided right after "
    "`get_object()`: one query, no serializer, no rendering. Most of its time is the query "
    "that loads the object (for a 200-column row, Django compiling the column list and "
    "converting the values).",
    "- A **list 304** uses the collection ETag, a digest of the primary key and version "
    "token of every object on the page and of the page's envelope (count, links). It is "
    "computed in `finalize_response()`, from the serializer's page and `response.data`: "
    "the page's query and the serialization of all its items have already run by then; "
    "only the rendering to JSON is saved.",
    "- drf-extensions answers 304 before the view runs, from two queries (`COUNT` and a "
    "`values_list()` of the queryset) hashed as the queryset's `repr()`, which Django "
    "truncates to the first 20 rows: on a page of 100 items, a change to items 21-100 "
    "does not change its ETag. On writes it compares If-Match in a read before the view "
    "runs and then saves without a condition, so two writers holding the same ETag can "
    "both succeed.",
    "- `ConditionalGetMiddleware` runs the whole view, renders the body and hashes it; it "
    "saves only the bytes on the wire.",
]
