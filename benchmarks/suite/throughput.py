"""The HTTP benchmark: requests per second on PostgreSQL, through gunicorn.

gunicorn (sync workers) serves the benchmark project on a dedicated PostgreSQL database;
client processes, started together at a barrier, loop for a fixed time. All traffic stays on
the loopback interface. Three phases, each with its variants interleaved in slices so that
machine load hits them alike:

- reads: GET one document (each client its own row), plain model + plain ``ModelViewSet`` vs
  ours (``PreconditionMixin``);
- writes: GET, then PATCH the counter + 1 (each client its own row: no conflicts), plain model
  without a precondition vs ours with If-Match;
- contention: every client on one row: GET (keep the ETag and the counter), PUT the counter + 1
  with If-Match, on 412 start again. Ours (``require_preconditions``: one compare-and-swap
  UPDATE, no transaction, no lock) vs the same endpoint written by hand with ``atomic()``,
  ``SELECT … FOR UPDATE``, compare, write, commit. At the end each counter must equal the
  number of successful writes (no lost update) and every successful write must have returned a
  distinct ETag.

Then two single requests probe the server's header limit (gunicorn's
``limit_request_field_size``): an If-None-Match just under it, and one just over it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/preconditions_bench"


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    path: str  # with "{row}"
    method: str  # the write method ("GET": a read-only phase)
    conditional: bool = True  # sends If-Match with its writes


@dataclass(frozen=True)
class Phase:
    key: str
    title: str
    endpoints: tuple[Endpoint, ...]
    shared_row: bool  # all clients on one row (contention) or each on its own

    def row(self, endpoint_index: int, client_index: int) -> int:
        return endpoint_index + 1 if self.shared_row else FIRST_OWN_ROW + client_index


FIRST_OWN_ROW = 100
SEEDED_ROWS = 400

PLAIN_LABEL = "plain model + plain ModelViewSet"
OURS_LABEL = "ours: VersionedModel + PreconditionMixin"
PHASES = (
    Phase(
        "reads",
        "Reads: GET one document (200), each client on its own row; requests/s",
        (
            Endpoint("plain-model", PLAIN_LABEL, "/drf/plain-model/docs/{row}/", "GET", False),
            Endpoint("ours", OURS_LABEL, "/drf/ours/docs/{row}/", "GET"),
        ),
        shared_row=False,
    ),
    Phase(
        "writes",
        "Writes: GET then PATCH, each client on its own row (no conflicts); writes/s",
        (
            Endpoint("plain-model", PLAIN_LABEL, "/drf/plain-model/docs/{row}/", "PATCH", False),
            Endpoint("ours", OURS_LABEL + " (If-Match)", "/drf/ours/docs/{row}/", "PATCH"),
        ),
        shared_row=False,
    ),
    Phase(
        "contention",
        "Protected writes under contention: every client on one row; successful writes/s",
        (
            Endpoint(
                "ours",
                "ours (require_preconditions: compare-and-swap UPDATE)",
                "/throughput/ours/{row}/",
                "PUT",
            ),
            Endpoint(
                "locked",
                "select_for_update() + If-Match compared in the view",
                "/throughput/locked/{row}/",
                "PUT",
            ),
        ),
        shared_row=True,
    ),
)


@dataclass
class Tally:
    successes: int = 0
    attempts: int = 0
    conflicts: int = 0
    errors: int = 0
    seconds: float = 0.0
    etags: list[str] = field(default_factory=list)
    final_counter: int = 0

    def add(self, other: dict[str, Any]) -> None:
        self.successes += other["successes"]
        self.attempts += other["attempts"]
        self.conflicts += other["conflicts"]
        self.errors += other["errors"]
        self.etags.extend(other["etags"])

    @property
    def writes_per_second(self) -> float:
        return self.successes / self.seconds if self.seconds else 0.0

    @property
    def lost_updates(self) -> int:
        return self.successes - self.final_counter

    @property
    def duplicate_etags(self) -> int:
        return len(self.etags) - len(set(self.etags))


@dataclass
class ThroughputResult:
    clients: int
    workers: int
    seconds_per_variant: float
    tallies: dict[str, dict[str, Tally]]  # phase key -> endpoint key -> tally
    server: str  # e.g. "PostgreSQL 15.2, gunicorn 23.0 (4 sync workers)"
    header_limit: list[tuple[int, int]] = field(default_factory=list)  # (bytes, status)


# --- Availability ----------------------------------------------------------------------------


def unavailable_reason(database_url: str, *, need_gunicorn: bool = True) -> str | None:
    """Why the benchmark cannot run here, or ``None``."""
    if need_gunicorn:
        try:
            import gunicorn  # noqa: F401
        except ImportError:
            return "gunicorn is not installed (pip install --group bench)"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install --group bench)"
    if urlsplit(database_url).scheme not in ("postgres", "postgresql"):
        return f"{database_url!r} is not a PostgreSQL URL"
    try:
        with psycopg.connect(_admin_url(database_url), connect_timeout=3):
            pass
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL is not reachable at {_safe(database_url)} ({first_line})"
    return None


def _admin_url(database_url: str) -> str:
    """The same server, database ``postgres`` (to create the benchmark database)."""
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))


def _safe(database_url: str) -> str:
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    return f"{host}:{parts.port or 5432}{parts.path}"


# --- Server ----------------------------------------------------------------------------------


def _environment(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["BENCH_DATABASE_URL"] = database_url
    env["DJANGO_SETTINGS_MODULE"] = "bench_project.settings"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(BENCH_DIR), *filter(None, [env.get("PYTHONPATH", "")])]
    )
    return env


def prepare_database(database_url: str) -> str:
    """Create the dedicated database if needed, migrate it, seed it; return the server's
    version string."""
    import psycopg

    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(_admin_url(database_url), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
        version = str(admin.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    env = _environment(database_url)
    for command in (
        ["migrate", "--run-syncdb", "-v0"],
        ["bench_seed", "--docs", str(SEEDED_ROWS), "--wide", "0"],
    ):
        subprocess.run(
            [sys.executable, "-m", "django", *command],
            env=env,
            cwd=BENCH_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    return f"PostgreSQL {version.split()[0]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn_server(database_url: str, workers: int) -> Iterator[int]:
    """Run gunicorn on a free loopback port for the duration of the block; yield the port."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "bench_project.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "60",
        ],
        env=_environment(database_url),
        cwd=BENCH_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_until_serving(port, process)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{stderr}")
        try:
            status, _, _ = _request(
                http.client.HTTPConnection("127.0.0.1", port, timeout=5), "GET", "/fn/plain/1/"
            )
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on 127.0.0.1:{port} within 30 s")


# --- Clients ---------------------------------------------------------------------------------


def _request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    return response.status, response.headers, data


def client_loop(
    port: int, endpoint: Endpoint, path: str, seconds: float, barrier: Barrier, queue: Any
) -> None:
    """One client process: GET (→ write with If-Match → on 412 again), until the time is up."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    tally: dict[str, Any] = {
        "successes": 0,
        "attempts": 0,
        "conflicts": 0,
        "errors": 0,
        "etags": [],
    }
    barrier.wait()
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        try:
            status, headers, data = _request(connection, "GET", path)
            if endpoint.method == "GET":
                tally["attempts"] += 1
                if status == 200:
                    tally["successes"] += 1
                else:
                    tally["errors"] += 1
                continue
            if status != 200:
                tally["errors"] += 1
                continue
            counter = int(json.loads(data)["counter"])
            body = json.dumps({"title": f"Edit {counter + 1}", "counter": counter + 1}).encode()
            write_headers = {"Content-Type": "application/json"}
            if endpoint.conditional:
                write_headers["If-Match"] = headers["ETag"]
            status, headers, _ = _request(connection, endpoint.method, path, body, write_headers)
        except (OSError, http.client.HTTPException):
            tally["errors"] += 1
            connection.close()
            continue
        tally["attempts"] += 1
        if 200 <= status < 300:
            tally["successes"] += 1
            if endpoint.conditional:
                tally["etags"].append(headers["ETag"])
        elif status == 412:
            tally["conflicts"] += 1
        else:
            tally["errors"] += 1
    tally["start"], tally["end"] = start, time.monotonic()
    queue.put(tally)


def _run_slice(
    port: int, phase: Phase, endpoint_index: int, clients: int, seconds: float
) -> tuple[list[dict[str, Any]], float]:
    endpoint = phase.endpoints[endpoint_index]
    context = multiprocessing.get_context("fork")  # the clients use no Django state
    barrier = context.Barrier(clients)
    queue = context.Queue()
    processes = [
        context.Process(
            target=client_loop,
            args=(
                port,
                endpoint,
                endpoint.path.format(row=phase.row(endpoint_index, index)),
                seconds,
                barrier,
                queue,
            ),
        )
        for index in range(clients)
    ]
    for process in processes:
        process.start()
    tallies = [queue.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    elapsed = max(t["end"] for t in tallies) - min(t["start"] for t in tallies)
    return tallies, elapsed


def _counter(port: int, path: str) -> int:
    status, _, data = _request(
        http.client.HTTPConnection("127.0.0.1", port, timeout=10), "GET", path
    )
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status}")
    return int(json.loads(data)["counter"])


def tag_list(etag: str, size: int) -> str:
    """An If-None-Match value of at most ``size`` bytes (and within 17 of it): other
    entity-tags, then ``etag`` last, so a server must read the whole list to find it."""
    tags, length, index = [], len(etag), 0
    while length + 17 <= size:
        tags.append(f'"other-{index:07d}"')  # 15 bytes, and ", " between tags
        length += 17
        index += 1
    return ", ".join([*tags, etag])


def probe_header_limit(port: int) -> list[tuple[int, int]]:
    """The status of a conditional GET whose If-None-Match value is just under and just over
    what gunicorn accepts (8,190 bytes for the whole header line by default)."""
    path = "/drf/ours/docs/1/"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    _, headers, _ = _request(connection, "GET", path)
    etag = headers["ETag"]
    results = []
    for size in (8_100, 8_300):
        value = tag_list(etag, size)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            status, _, _ = _request(connection, "GET", path, headers={"If-None-Match": value})
        except (OSError, http.client.HTTPException):
            status = 0
        results.append((len(value), status))
    return results


def run(
    database_url: str,
    *,
    clients: int,
    workers: int,
    seconds_per_variant: float,
    slices: int,
    progress: Callable[[str], None],
) -> ThroughputResult:
    server = prepare_database(database_url)
    tallies = {phase.key: {e.key: Tally() for e in phase.endpoints} for phase in PHASES}
    with gunicorn_server(database_url, workers) as port:
        for phase in PHASES:
            initial = {}
            if phase.shared_row:
                initial = {
                    e.key: _counter(port, e.path.format(row=phase.row(i, 0)))
                    for i, e in enumerate(phase.endpoints)
                }
            indexes = list(range(len(phase.endpoints)))
            for slice_index in range(slices):
                order = indexes if slice_index % 2 == 0 else indexes[::-1]
                for index in order:
                    endpoint = phase.endpoints[index]
                    progress(
                        f"\r  HTTP {phase.key}: slice {slice_index + 1}/{slices}, {endpoint.key}   "
                    )
                    results, elapsed = _run_slice(
                        port, phase, index, clients, seconds_per_variant / slices
                    )
                    for result in results:
                        tallies[phase.key][endpoint.key].add(result)
                    tallies[phase.key][endpoint.key].seconds += elapsed
            for index, endpoint in enumerate(phase.endpoints):
                tally = tallies[phase.key][endpoint.key]
                if phase.shared_row:
                    path = endpoint.path.format(row=phase.row(index, 0))
                    tally.final_counter = _counter(port, path) - initial[endpoint.key]
                else:
                    tally.final_counter = tally.successes  # no shared counter to check
        header_limit = probe_header_limit(port)
    progress("\n")
    gunicorn_version = _gunicorn_version()
    return ThroughputResult(
        clients=clients,
        workers=workers,
        seconds_per_variant=seconds_per_variant,
        tallies=tallies,
        server=f"{server}, gunicorn {gunicorn_version} ({workers} sync workers)",
        header_limit=header_limit,
    )


def _gunicorn_version() -> str:
    import gunicorn

    return str(gunicorn.__version__)
