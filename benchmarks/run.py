#!/usr/bin/env python
"""Run the django-preconditions benchmarks and print the tables, the curves and the targets.

    .venv/bin/python benchmarks/run.py               # everything (what `make bench` runs)
    .venv/bin/python benchmarks/run.py --quick       # a short smoke run, no throughput
    .venv/bin/python benchmarks/run.py --write-docs  # also rewrite docs/performance.md
    .venv/bin/python benchmarks/run.py --profile retrieve.ours   # where one variant's time goes

The in-process benchmarks run once per database, each in its own process: SQLite (a
temporary file) and PostgreSQL (``--postgres-url``: a throw-away ``test_…`` database on that
server). The HTTP benchmark needs PostgreSQL and gunicorn (``--throughput-url``, a dedicated
database it creates, migrates and re-seeds); it is skipped with a message when either is
missing, or with ``--quick``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

if TYPE_CHECKING:
    from suite.timing import Group

IN_PROCESS = ("drf", "fn", "304", "list", "headers", "rules", "admin", "report", "wide")
DEFAULT = ("drf", "fn", "304", "list", "headers", "rules", "admin", "report", "throughput")
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/preconditions_bench_inproc"
DEFAULT_THROUGHPUT = "postgres://postgres@127.0.0.1:5432/preconditions_bench"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run; skips throughput")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comma-separated subset of {', '.join((*IN_PROCESS, 'throughput'))} "
        f"(default: {','.join(DEFAULT)})",
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgres",
        help="in-process databases, comma-separated: sqlite, postgres (default: both)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL server for the in-process run (a test_… database is created there)",
    )
    parser.add_argument(
        "--throughput-url",
        default=os.environ.get("BENCH_THROUGHPUT_URL", DEFAULT_THROUGHPUT),
        help="PostgreSQL database for the HTTP benchmark (created if missing, re-seeded)",
    )
    parser.add_argument("--rounds", type=int, help="rounds per group (default 30; quick 4)")
    parser.add_argument(
        "--seconds", type=float, help="timed seconds per variant (default 1.5; quick 0.1)"
    )
    parser.add_argument("--clients", type=int, default=8, help="HTTP client processes")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument(
        "--throughput-seconds",
        type=float,
        default=8.0,
        help="seconds of load per HTTP variant (in 2 interleaved slices)",
    )
    parser.add_argument(
        "--write-docs", action="store_true", help="write the results into docs/performance.md"
    )
    parser.add_argument(
        "--profile",
        metavar="KEY",
        help="profile one variant instead of benchmarking ('list' lists keys); on the first "
        "of --databases",
    )
    parser.add_argument(
        "--profiler", choices=("cprofile", "pyinstrument"), default="cprofile", help="for --profile"
    )
    # Internal: run the in-process groups on one database and write their results as JSON.
    parser.add_argument("--worker-json", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - {*IN_PROCESS, "throughput"}
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}")
    args.databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    if set(args.databases) - {"sqlite", "postgres"}:
        parser.error("--databases takes sqlite and/or postgres")
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


# --- One database, in this process -------------------------------------------------------------


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

        description = f"SQLite {sqlite3.sqlite_version} (temporary file, in process)"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            server = str(cursor.fetchone()[0]).split(" on ")[0].split(",")[0]
        description = f"{server} (in process, a throw-away test database on 127.0.0.1)"
    return description.strip(), cleanup


def group_factories(only: list[str]) -> list[Callable[[], Group]]:
    """Each benchmark group is built right before it runs (building one reads the ETags its
    conditional requests send, which earlier groups' writes would change)."""
    from suite import requests

    clients = requests.make_clients()
    return [
        factory
        for name in requests.ORDER
        if name in only
        for factory in requests.BENCHMARKS[name](clients)
    ]


def profile(factories: list[Callable[[], Group]], key: str, profiler_name: str) -> None:
    variants: dict[str, Any] = {}
    for factory in factories:
        group = factory()
        variants.update((variant.key, variant) for variant in group.variants)
        if key in variants:
            break
        if group.after is not None:
            # Undo what building the group set up: the report group's PRECONDITIONS would
            # otherwise profile every later group in report mode.
            group.after()
    if key not in variants:
        print("Variants:", ", ".join(variants))
        return
    variant = variants[key]
    if variant.enter is not None:
        variant.enter()
    for _ in range(50):
        variant.check(variant.send())
    count, started = 0, time.perf_counter()
    if profiler_name == "pyinstrument":
        from pyinstrument import Profiler

        sampler: Any = Profiler(interval=0.0002)
    else:
        sampler = cProfile.Profile()
    sampler.start() if profiler_name == "pyinstrument" else sampler.enable()
    while count < 200 or time.perf_counter() - started < 3:
        variant.check(variant.send())
        count += 1
    sampler.stop() if profiler_name == "pyinstrument" else sampler.disable()
    print(f"{profiler_name} of {key} ({variant.label}), {count} requests:")
    if profiler_name == "pyinstrument":
        print(sampler.output_text(unicode=False, color=False, show_all=False))
        return
    profiler = sampler
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats("django_preconditions", 30)  # ours first
    stats.strip_dirs().sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(20)


def worker(args: argparse.Namespace) -> int:
    """Run the in-process groups on ``--database-url`` (SQLite when empty)."""
    database, cleanup = setup_django(args.database_url or None)
    try:
        from django.db import connection
        from suite import report
        from suite.timing import Plan, measure

        factories = group_factories(args.only)
        if args.profile:
            profile(factories, args.profile, args.profiler)
            return 0
        plan = Plan(
            rounds=args.rounds or (4 if args.quick else 30),
            seconds_per_variant=args.seconds or (0.1 if args.quick else 1.5),
            warmup_seconds=0.05 if args.quick else 0.3,
        )
        progress(f"{database}:\n")
        load = os.getloadavg()
        groups = []
        for factory in factories:
            group = factory()
            measurements = measure(group, plan, progress)
            targets = group.judge(measurements) if group.judge else []
            notes = list(group.notes) + (group.after() if group.after else [])
            groups.append(report.group_data(group, measurements, targets, notes))
        data = {
            "database": database,
            "vendor": connection.vendor,
            "load": [load, os.getloadavg()],
            "plan": f"{plan.rounds} rounds, {plan.seconds_per_variant:g} s timed per variant"
            + (" (--quick: a smoke run, not for conclusions)" if args.quick else ""),
            "groups": groups,
        }
        Path(args.worker_json).write_text(json.dumps(data), encoding="utf-8")
        return 0
    finally:
        cleanup()


# --- The whole run ------------------------------------------------------------------------------


def postgres_unavailable(url: str) -> str | None:
    from suite import throughput

    return throughput.unavailable_reason(url, need_gunicorn=False)


def database_urls(args: argparse.Namespace) -> list[tuple[str, str | None, str | None]]:
    """(name, URL, why skipped) per in-process database."""
    urls: list[tuple[str, str | None, str | None]] = []
    for name in args.databases:
        if name == "sqlite":
            urls.append((name, None, None))
        else:
            urls.append((name, args.postgres_url, postgres_unavailable(args.postgres_url)))
    return urls


def run_database(args: argparse.Namespace, url: str | None, argv: list[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        command = [sys.executable, str(Path(__file__).resolve()), *argv, "--worker-json", str(out)]
        if url:
            command += ["--database-url", url]
        subprocess.run(command, check=True)
        data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return data
    finally:
        out.unlink(missing_ok=True)


def worker_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--only", ",".join(name for name in args.only if name in IN_PROCESS)]
    if args.quick:
        argv.append("--quick")
    if args.rounds:
        argv += ["--rounds", str(args.rounds)]
    if args.seconds:
        argv += ["--seconds", str(args.seconds)]
    return argv


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker_json:
        return worker(args)
    if args.profile:
        name = args.databases[0]
        args.database_url = None if name == "sqlite" else args.postgres_url
        args.worker_json = os.devnull
        return worker(args)

    from suite import report, throughput

    started = time.perf_counter()
    facts = report.machine_facts()
    databases: list[dict[str, Any]] = []
    skipped_databases: list[str] = []
    if any(name in IN_PROCESS for name in args.only):
        for name, url, skipped in database_urls(args):
            if skipped:
                skipped_databases.append(f"{name}: {skipped}")
                continue
            databases.append(run_database(args, url, worker_argv(args)))

    throughput_result = None
    skipped = None
    if "throughput" in args.only:
        skipped = (
            "skipped with --quick"
            if args.quick
            else throughput.unavailable_reason(args.throughput_url)
        )
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
    facts.append(f"Load average at the end: {report.load_text(os.getloadavg())}")
    total = time.perf_counter() - started

    text = report.text_report(databases, skipped_databases, throughput_result, skipped, facts)
    print()
    print(text)
    print(f"\nTotal runtime: {total:.0f} s")
    if args.write_docs:
        command = shlex.join(["make", "bench", "BENCH_ARGS=--write-docs"])
        page = report.write_docs(
            databases, skipped_databases, throughput_result, skipped, facts, command, total
        )
        print(f"Wrote {page.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
