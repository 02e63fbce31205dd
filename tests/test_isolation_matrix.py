"""The isolation matrix (issue 9): every adapter, under each isolation level the database
offers, with and without ``ATOMIC_REQUESTS``, behind gunicorn with real parallel clients.

For each combination the example project is served by gunicorn (4 workers) configured by
``DATABASE_ISOLATION_LEVEL`` and ``DATABASE_ATOMIC_REQUESTS``, and 12 client processes
increment counters through the decorator (/documents/), the class-based view
(/cbv/documents/), the DRF viewset (/api/documents/, PUT and PATCH) and the
middleware-protected view (/notes/), re-reading and retrying on 412 and 503. Two of them use
``If-Unmodified-Since``. One summary line per combination::

    matrix[postgresql serializable atomic]: requests=… successes=… conflicts=… lost_updates=0
        partial_writes=0 5xx=0 (503 after retries: 0) ius_clients_done=2/2

A lost update is a success whose increment is missing from the final value; a partial write
is a change in the final value that no success accounts for (a refused write that was applied
anyway) or a document whose title and body disagree (one PUT writes both). Run by
``make test-load`` (PostgreSQL: READ COMMITTED, REPEATABLE READ, SERIALIZABLE; MariaDB: READ
COMMITTED, REPEATABLE READ; SQLite: its one level); skipped unless ``LOAD_DATABASE_URL`` is set.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import pytest

from tests.support.example_server import example_env, gunicorn, manage, request
from tests.support.load import DATABASE_URL, WORKERS, Outcome, Target, run_clients, write_loop

pytestmark = pytest.mark.load

SUCCESSES = 4
DEADLINE_SECONDS = 60
SCHEME = DATABASE_URL.split(":", 1)[0]
LEVELS = {
    "postgres": ["read committed", "repeatable read", "serializable"],
    "postgresql": ["read committed", "repeatable read", "serializable"],
    "mysql": ["read committed", "repeatable read"],
}.get(SCHEME, [""])


def matrix_writer(
    port: int, target: Target, use_unmodified_since: bool, barrier: Any, results: Any
) -> None:
    outcome = Outcome()
    barrier.wait(timeout=60)
    done = write_loop(port, target, use_unmodified_since, outcome, SUCCESSES, DEADLINE_SECONDS)
    if use_unmodified_since:
        outcome.unmodified_since_clients.append(done)
    results.put(outcome)


def _create(port: int, path: str, body: dict[str, Any]) -> int:
    status, headers, data = request(port, "POST", path, body)
    assert status == 201, (status, headers, data)
    return int(data["id"])


@pytest.mark.parametrize("atomic", [False, True], ids=["autocommit", "atomic"])
@pytest.mark.parametrize("level", LEVELS)
def test_isolation_matrix_every_adapter_loses_nothing_and_never_fails(
    level: str, atomic: bool
) -> None:
    if not DATABASE_URL:
        pytest.skip("load tests run with `make test-load` (LOAD_DATABASE_URL unset)")
    env = example_env(DATABASE_URL)
    if level:
        env["DATABASE_ISOLATION_LEVEL"] = level
    if atomic:
        env["DATABASE_ATOMIC_REQUESTS"] = "1"
    manage("migrate", "--noinput", env=env)
    with gunicorn(env, WORKERS) as port:
        api = _create(port, "/api/documents/", {"title": "load 0", "body": "0"})
        view = _create(port, "/api/documents/", {"title": "load 0", "body": "0"})
        cbv = _create(port, "/api/documents/", {"title": "load 0", "body": "0"})
        note_doc = _create(port, "/api/documents/", {"title": "with a note", "body": ""})
        note = int(
            manage(
                "shell",
                "-c",
                "from documents.models import Note; "
                f"print(Note.objects.create(document_id={note_doc}, text='0').pk)",
                env=env,
            )
            .strip()
            .splitlines()[-1]
        )
        targets = {
            "api-put": Target("api", f"/api/documents/{api}/", "body"),
            "api-patch": Target("api", f"/api/documents/{api}/", "body", "PATCH"),
            "view": Target("view", f"/documents/{view}/", "body"),
            "cbv": Target("view", f"/cbv/documents/{cbv}/", "body"),
            "note": Target("note", f"/notes/{note}/", "text"),
        }
        plan = [
            ("api-put", False),
            ("api-put", True),
            ("api-patch", False),
            ("api-patch", False),
            ("view", False),
            ("view", True),
            ("view", False),
            ("cbv", False),
            ("cbv", False),
            ("cbv", False),
            ("note", False),
            ("note", False),
        ]
        jobs = [(matrix_writer, (port, targets[name], ius)) for name, ius in plan]
        started = time.monotonic()
        total = run_clients(jobs)
        elapsed = time.monotonic() - started

        lost = partial = 0
        for path, field in [
            (f"/api/documents/{api}/", "body"),
            (f"/documents/{view}/", "body"),
            (f"/cbv/documents/{cbv}/", "body"),
            (f"/notes/{note}/", "text"),
        ]:
            status, _, data = request(port, "GET", path)
            assert status == 200, (path, status)
            final = int(data[field])
            writes = total.successes[path]
            lost += max(0, writes - final)
            partial += max(0, final - writes)
            if field == "body" and not path.startswith("/api/"):
                partial += data["title"] != f"load {final}" and final > 0
    ius = total.unmodified_since_clients
    ius_done = sum(1 for done in ius if done == SUCCESSES)
    other_5xx = (
        sum(count for status, count in total.statuses.items() if status >= 500)
        - (total.statuses[503])
    )
    statuses: Counter[int] = total.statuses
    print(
        f"\nmatrix[{SCHEME} {level or 'default'} {'atomic' if atomic else 'autocommit'}]: "
        f"requests={sum(statuses.values())} successes={sum(total.successes.values())} "
        f"conflicts={statuses[412]} lost_updates={lost} partial_writes={partial} "
        f"stale_412_etags={len(total.stale_412_etags)} "
        f"5xx={other_5xx + statuses[503]} (503 after retries: {statuses[503]}) "
        f"ius_clients_done={ius_done}/{len(ius)} statuses={dict(statuses)} "
        f"seconds={elapsed:.1f}"
    )
    assert lost == 0
    assert partial == 0
    assert total.stale_412_etags == []
    assert other_5xx + statuses[503] == 0  # no 5xx at all, not even a 503 after retries
    assert statuses[412] > 0  # conflicts really happened
    assert ius_done == len(ius) == 2  # every If-Unmodified-Since client got its writes through
    assert sum(total.successes.values()) == SUCCESSES * len(plan)


def test_isolation_matrix_levels_cover_the_issue() -> None:
    if SCHEME.startswith("postgres"):
        assert LEVELS == ["read committed", "repeatable read", "serializable"]
    elif SCHEME == "mysql":
        assert LEVELS == ["read committed", "repeatable read"]
    assert os.environ.get("DATABASE_ISOLATION_LEVEL") is None  # set per server only
