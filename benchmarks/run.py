#!/usr/bin/env python
"""Run the django-preconditions benchmarks and print the results table.

    .venv/bin/python benchmarks/run.py               # everything (what `make bench` runs)
    .venv/bin/python benchmarks/run.py --quick       # a short smoke run, no throughput
    .venv/bin/python benchmarks/run.py --write-docs  # also rewrite docs/performance.md
    .venv/bin/python benchmarks/run.py --profile retrieve.ours   # where one variant's time goes

Benchmarks 1-3 run in process on a temporary SQLite database (``--database-url`` or
``DATABASE_URL``: a throw-away ``test_…`` database on that server instead). Benchmark 4
needs PostgreSQL and gunicorn (``--throughput-url``, default
``postgres://postgres@127.0.0.1:5432/preconditions_bench``, a dedicated database it creates,
migrates and re-seeds) and is skipped with a message when either is missing, or with
``--quick``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

if TYPE_CHECKING:
    from suite.timing import Group

BENCHMARKS = ("drf", "304", "rules", "report", "throughput")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run; skips throughput")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="server for benchmarks 1-3 (default: DATABASE_URL, else a temporary SQLite file)",
    )
    parser.add_argument(
        "--throughput-url",
        default=os.environ.get(
            "BENCH_THROUGHPUT_URL", "postgres://postgres@127.0.0.1:5432/preconditions_bench"
        ),
        help="PostgreSQL database for benchmark 4 (created if missing, re-seeded)",
    )
    parser.add_argument("--rounds", type=int, help="rounds per benchmark (default 50; quick 6)")
    parser.add_argument(
        "--seconds", type=float, help="timed seconds per variant (default 2; quick 0.25)"
    )
    parser.add_argument("--clients", type=int, default=16, help="throughput client processes")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--throughput-seconds",
        type=float,
        default=10.0,
        help="seconds of load per throughput variant (in 2 interleaved slices)",
    )
    parser.add_argument(
        "--write-docs", action="store_true", help="write the results into docs/performance.md"
    )
    parser.add_argument(
        "--profile",
        metavar="KEY",
        help="profile one variant with cProfile instead of benchmarking ('list' lists keys)",
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS}")
    return args


_pending_progress = {"line": ""}


def progress(text: str) -> None:
    """Progress on stderr: rewritten in place on a terminal, one line per group otherwise."""
    if not sys.stderr.isatty():
        if text.startswith("\r"):  # keep only the last state of each line
            _pending_progress["line"] = text.lstrip("\r")
            return
        text, _pending_progress["line"] = _pending_progress["line"] + text, ""
    sys.stderr.write(text)
    sys.stderr.flush()


def setup_django(database_url: str | None) -> tuple[str, Callable[[], None]]:
    """Configure Django on a throw-away database; return its description and a cleanup."""
    scratch = Path(tempfile.mkdtemp(prefix="preconditions-bench-"))
    os.environ["BENCH_DATABASE_URL"] = database_url or f"sqlite:///{scratch / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_project.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    def remove_scratch() -> None:
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()

    if database_url:
        # Like the test runner: a new "test_<name>" database on that server, dropped at the end.
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)

        def cleanup() -> None:
            connection.creation.destroy_test_db(old_name, verbosity=0)
            remove_scratch()

    else:
        call_command("migrate", run_syncdb=True, verbosity=0)
        cleanup = remove_scratch
    call_command("bench_seed", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    if connection.vendor == "sqlite":
        import sqlite3

        description = f"SQLite {sqlite3.sqlite_version} (temporary file)"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            server = str(cursor.fetchone()[0]).split(" on ")[0].split(",")[0]
        description = f"{server} (a throw-away test database)"
    return description.strip(), cleanup


def group_factories(only: list[str]) -> list[Callable[[], Group]]:
    """Each benchmark group is built right before it runs (building one reads the ETags its
    conditional requests send, which earlier groups' writes would change)."""
    from suite import requests

    client = requests.client_with([])
    factories: list[Callable[[], Group]] = []
    if "drf" in only:
        factories += [
            lambda: requests.retrieve_group(client),
            lambda: requests.update_group(client),
        ]
    if "304" in only:
        factories += [
            lambda: requests.not_modified_group(client, "list"),
            lambda: requests.not_modified_group(client, "wide"),
        ]
    if "rules" in only:
        factories.append(requests.rules_group)
    if "report" in only:
        from suite import report_mode

        factories.append(lambda: report_mode.report_mode_group(client))
    return factories


def profile(factories: list[Callable[[], Group]], key: str) -> None:
    variants = {variant.key: variant for factory in factories for variant in factory().variants}
    if key not in variants:
        print("Variants:", ", ".join(variants))
        return
    variant = variants[key]
    if variant.enter is not None:
        variant.enter()
    for _ in range(50):
        variant.check(variant.send())
    profiler = cProfile.Profile()
    count, started = 0, time.perf_counter()
    profiler.enable()
    while count < 200 or time.perf_counter() - started < 3:
        variant.check(variant.send())
        count += 1
    profiler.disable()
    print(f"cProfile of {key} ({variant.label}), {count} requests:")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(15)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    database, cleanup = setup_django(args.database_url)
    try:
        return run(args, database, started)
    finally:
        cleanup()


def run(args: argparse.Namespace, database: str, started: float) -> int:
    from suite import report, throughput
    from suite.timing import Plan, measure

    factories = group_factories(args.only)
    if args.profile:
        profile(factories, args.profile)
        return 0
    plan = Plan(
        rounds=args.rounds or (6 if args.quick else 50),
        seconds_per_variant=args.seconds or (0.25 if args.quick else 2.0),
        warmup_seconds=0.05 if args.quick else 0.3,
    )
    facts_before = report.machine_facts(database, None)
    results = []
    for factory in factories:
        group = factory()
        measurements = measure(group, plan, progress)
        targets = group.judge(measurements) if group.judge else {}
        notes = list(group.notes) + (group.after() if group.after else [])
        results.append(report.GroupResult(group, measurements, targets, notes))

    throughput_result = None
    skipped = None
    if "throughput" in args.only:
        if args.quick:
            skipped = "skipped with --quick"
        else:
            skipped = throughput.unavailable_reason(args.throughput_url)
        if skipped is None:
            throughput_result = throughput.run(
                args.throughput_url,
                clients=args.clients,
                workers=args.workers,
                seconds_per_variant=args.throughput_seconds,
                slices=2,
                progress=progress,
            )
    else:
        skipped = "not selected (--only)"

    facts = facts_before
    if throughput_result is not None:
        facts.append(f"Benchmark 4: {throughput_result.server}")
    facts.append(
        f"Plan: {plan.rounds} rounds, {plan.seconds_per_variant:g} s timed per variant"
        + (" (--quick: a smoke run, not for conclusions)" if args.quick else "")
    )
    total = time.perf_counter() - started

    print()
    print("\n".join(facts))
    print()
    if results:
        print(report.latency_table(results))
        for result in results:
            for note in result.notes:
                print(f"  note ({result.group.key}): {note}")
        print()
        missed = report.unmet(results)
        print("Targets:", "all met." if not missed else "NOT MET:")
        for line in missed:
            print(f"  - {line}")
        print()
    if throughput_result is not None:
        print(
            f"Conditional writes under contention ({throughput_result.clients} clients, "
            f"{throughput_result.server}, {throughput_result.seconds_per_variant:g} s each):"
        )
        print(report.throughput_table(throughput_result))
    else:
        print(f"Throughput benchmark (4): {skipped}.")
    print(f"\nTotal runtime: {total:.0f} s")

    if args.write_docs:
        command = shlex.join(["make", "bench", "BENCH_ARGS=--write-docs"])
        page = report.write_docs(results, throughput_result, skipped, facts, command, total)
        print(f"Wrote {page.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
