"""Proof under load: the example project behind gunicorn (4 worker processes), 16 client
processes, one database — no lost update, conflicts really happen, no 5xx.

Run by ``make test-load`` (PostgreSQL, MariaDB and SQLite in WAL mode; `.ci/run` runs all
three). Each client loops: GET a document (keep the ETag), increment the counter kept in its
body, PUT or PATCH it with ``If-Match`` (some clients with ``If-Unmodified-Since``), re-read
and retry on 412. Mixed in: clients writing through the function-view and settings-mapped
endpoints, and clients deleting documents with a possibly stale ETag. The same loop against
the example's unprotected control endpoint must lose updates, or the harness proves nothing.

Skipped unless ``LOAD_DATABASE_URL`` is set (the make target sets it).
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.example_server import example_env, gunicorn, manage, request
from tests.support.load import (
    DATABASE_URL,
    SUCCESSES_PER_WRITER,
    WORKERS,
    Outcome,
    Target,
    run_clients,
    write_loop,
)

pytestmark = pytest.mark.load

CLIENTS = 16


@dataclass
class Server:
    port: int
    env: dict[str, str]

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        return request(self.port, method, path, body, headers)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not DATABASE_URL:
        pytest.skip("load tests run with `make test-load` (LOAD_DATABASE_URL unset)")
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("gunicorn is not installed in this virtualenv (pip install -e . --group test)")
    env = example_env(DATABASE_URL)
    manage("migrate", "--noinput", env=env)  # `make test-load` gives it an empty database
    with gunicorn(env, WORKERS) as port:
        yield Server(port, env)


# --- the clients --------------------------------------------------------------------------------


def writer(
    port: int, target: Target, use_unmodified_since: bool, barrier: Any, results: Any
) -> None:
    outcome = Outcome()
    barrier.wait(timeout=60)
    write_loop(port, target, use_unmodified_since, outcome)
    results.put(outcome)


def deleter(port: int, paths: list[str], barrier: Any, results: Any) -> None:
    outcome = Outcome()
    barrier.wait(timeout=60)
    for path in paths:
        status, headers, _ = request(port, "GET", path)
        outcome.statuses[status] += 1
        if status != 200:
            continue
        time.sleep(random.uniform(0, 0.05))  # others may write in between: a stale ETag
        status, _, _ = request(port, "DELETE", path, None, {"If-Match": headers["etag"]})
        outcome.statuses[status] += 1
        if status == 204:
            outcome.deleted.append(path)
    results.put(outcome)


def control_writer(port: int, path: str, barrier: Any, results: Any) -> None:
    outcome = Outcome()
    barrier.wait(timeout=60)
    for _ in range(SUCCESSES_PER_WRITER):
        status, _, data = request(port, "GET", path)
        value = int(data["body"] or 0) + 1
        time.sleep(random.uniform(0, 0.01))
        status, _, _ = request(port, "PUT", path, {"title": "control", "body": str(value)})
        outcome.statuses[status] += 1
        if status == 200:
            outcome.successes[path] += 1
    results.put(outcome)


def create(server: Server, path: str, body: dict[str, Any]) -> int:
    status, headers, data = server.request("POST", path, body)
    assert status == 201, (status, headers, data)
    return int(data["id"])


def test_no_lost_update_under_load_and_conflicts_happen(server: Server) -> None:
    shared = create(server, "/api/documents/", {"title": "shared via API", "body": "0"})
    via_view = create(server, "/api/documents/", {"title": "shared via view", "body": "0"})
    note_doc = create(server, "/api/documents/", {"title": "with a note", "body": ""})
    note = _create_note(server, note_doc)
    disposable = [
        create(server, "/api/documents/", {"title": f"disposable {i}", "body": "0"})
        for i in range(6)
    ]
    targets = {
        "api-put": Target("api", f"/api/documents/{shared}/", "body"),
        "api-patch": Target("api", f"/api/documents/{shared}/", "body", "PATCH"),
        "view": Target("view", f"/documents/{via_view}/", "body"),
        "note": Target("note", f"/notes/{note}/", "text"),
    }
    jobs: list[tuple[Any, tuple[Any, ...]]] = []
    plan = ["api-put"] * 4 + ["api-patch"] * 2 + ["view"] * 4 + ["note"] * 4
    for index, name in enumerate(plan):
        jobs.append((writer, (server.port, targets[name], index % 4 == 3)))
    disposable_paths = [f"/api/documents/{pk}/" for pk in disposable]
    jobs.append((deleter, (server.port, disposable_paths[:3])))
    jobs.append((deleter, (server.port, disposable_paths[1:])))  # overlaps: stale ETags
    assert len(jobs) == CLIENTS
    started = time.monotonic()
    total = run_clients(jobs)
    elapsed = time.monotonic() - started

    final_shared = int(server.request("GET", f"/api/documents/{shared}/")[2]["body"])
    final_view = int(server.request("GET", f"/documents/{via_view}/")[2]["body"])
    final_note = int(server.request("GET", f"/notes/{note}/")[2]["text"])
    api_writes = total.successes[f"/api/documents/{shared}/"]
    lost = (
        (api_writes - final_shared)
        + (total.successes[f"/documents/{via_view}/"] - final_view)
        + (total.successes[f"/notes/{note}/"] - final_note)
    )
    attempts = sum(total.statuses.values())
    print(
        f"\nload[{DATABASE_URL.split(':', 1)[0]}]: writers={CLIENTS - 2} deleters=2 "
        f"gunicorn_workers={WORKERS} requests={attempts} "
        f"successes={sum(total.successes.values())} conflicts={total.statuses[412]} "
        f"lost_updates={lost} 5xx={sum(c for s, c in total.statuses.items() if s >= 500)} "
        f"statuses={dict(total.statuses)} seconds={elapsed:.1f}"
    )
    assert not [status for status in total.statuses if status >= 500]
    assert final_shared == api_writes
    assert final_view == total.successes[f"/documents/{via_view}/"]
    assert final_note == total.successes[f"/notes/{note}/"]
    assert total.statuses[412] > 0
    for path, etags in total.etags.items():
        assert len(set(etags)) == len(etags), f"an ETag was served twice for {path}"
    for path in set(total.deleted):
        assert server.request("GET", path)[0] == 404, f"{path} came back after its delete"
    assert len(total.deleted) == len(set(total.deleted)), "a document was deleted twice"


def test_the_unprotected_control_loses_updates(server: Server) -> None:
    control = create(server, "/api/documents/", {"title": "control", "body": "0"})
    path = f"/unprotected/documents/{control}/"
    jobs: list[tuple[Any, tuple[Any, ...]]] = [
        (control_writer, (server.port, path)) for _ in range(CLIENTS)
    ]
    total = run_clients(jobs)
    final = int(server.request("GET", path)[2]["body"])
    writes = total.successes[path]
    print(
        f"\ncontrol[{DATABASE_URL.split(':', 1)[0]}]: writes={writes} final={final} lost={writes - final}"
    )
    assert writes == CLIENTS * SUCCESSES_PER_WRITER
    assert final < writes


def _create_note(server: Server, document: int) -> int:
    output = manage(
        "shell",
        "-c",
        "from documents.models import Note; "
        f"print(Note.objects.create(document_id={document}, text='0').pk)",
        env=server.env,
    )
    return int(output.strip().splitlines()[-1])
