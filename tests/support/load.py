"""The client processes of the load tests (tests/test_load.py, tests/test_isolation_matrix.py):
what each writes, what it saw, and the loop that reads, increments and writes with a
precondition until enough writes got through."""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.support.example_server import request

DATABASE_URL = os.environ.get("LOAD_DATABASE_URL", "")
WORKERS = 4
SUCCESSES_PER_WRITER = 6
DEADLINE_SECONDS = 90


@dataclass
class Target:
    """One endpoint kind: where to read, how to write the counter."""

    kind: str
    path: str
    counter_field: str
    method: str = "PUT"

    def body(self, data: dict[str, Any], value: int) -> dict[str, Any]:
        if self.kind == "note":
            return {"text": str(value)}
        if self.method == "PATCH":
            return {self.counter_field: str(value)}
        return {"title": f"load {value}", self.counter_field: str(value)}  # one PUT, both


@dataclass
class Outcome:
    statuses: Counter[int] = field(default_factory=Counter)
    successes: Counter[str] = field(default_factory=Counter)  # by path
    etags: dict[str, list[str]] = field(default_factory=dict)  # successful ETags by path
    deleted: list[str] = field(default_factory=list)
    stale_412_etags: list[str] = field(default_factory=list)
    unmodified_since_clients: list[int] = field(default_factory=list)  # successes of each


def write_loop(
    port: int,
    target: Target,
    use_unmodified_since: bool,
    outcome: Outcome,
    successes: int = SUCCESSES_PER_WRITER,
    deadline_seconds: float = DEADLINE_SECONDS,
) -> int:
    """GET, increment, write with If-Match (or If-Unmodified-Since); on 412 re-read and retry,
    on 503 wait for Retry-After first; until ``successes`` writes got through or the deadline
    passed. Returns the number of successes."""
    deadline = time.monotonic() + deadline_seconds
    done = 0
    while done < successes and time.monotonic() < deadline:
        status, headers, data = request(port, "GET", target.path)
        outcome.statuses[status] += 1
        if status != 200:
            continue
        value = int(data.get(target.counter_field) or 0) + 1
        time.sleep(random.uniform(0, 0.01))  # jitter between read and write
        condition = (
            {"If-Unmodified-Since": headers["last-modified"]}
            if use_unmodified_since
            else {"If-Match": headers["etag"]}
        )
        status, headers, _ = request(
            port, target.method, target.path, target.body(data, value), condition
        )
        outcome.statuses[status] += 1
        if 200 <= status < 300:
            done += 1
            outcome.successes[target.path] += 1
            outcome.etags.setdefault(target.path, []).append(headers.get("etag", ""))
        elif status == 412 and headers.get("etag") == condition.get("If-Match"):
            # Rule 55: a 412 carries the latest version, never the one the client sent.
            outcome.stale_412_etags.append(target.path)
        elif status == 503:
            time.sleep(float(headers.get("retry-after", "1")) * random.uniform(0.1, 0.5))
    return done


def run_clients(jobs: list[tuple[Any, tuple[Any, ...]]]) -> Outcome:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(jobs))
    results = context.Queue()
    processes = [context.Process(target=job, args=(*args, barrier, results)) for job, args in jobs]
    for process in processes:
        process.start()
    total = Outcome()
    for _ in processes:
        outcome = results.get(timeout=DEADLINE_SECONDS + 120)
        total.statuses.update(outcome.statuses)
        total.successes.update(outcome.successes)
        for path, etags in outcome.etags.items():
            total.etags.setdefault(path, []).extend(etags)
        total.deleted.extend(outcome.deleted)
        total.stale_412_etags.extend(outcome.stale_412_etags)
        total.unmodified_since_clients.extend(outcome.unmodified_since_clients)
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return total
