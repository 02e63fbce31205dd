"""Run the example project as real server processes for the multi-process tests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_project"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def example_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",  # not pytest's tests.settings
        "PYTHONPATH": str(ROOT),
    }


def manage(*args: str, env: dict[str, str]) -> str:
    """Run the example project's manage.py; its output, or an assertion naming the error."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request to 127.0.0.1:port; (status, lower-cased headers, parsed JSON or None)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body)
        all_headers = {"Accept": "application/json", **(headers or {})}
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        connection.request(method, path, payload, all_headers)
        response = connection.getresponse()
        raw = response.read()
        data = json.loads(raw) if raw and "json" in response.getheader("Content-Type", "") else None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        connection.close()


@contextmanager
def gunicorn(env: dict[str, str], workers: int) -> Iterator[int]:
    """Serve the example project with gunicorn on a free port until the block ends."""
    port = free_port()
    executable = Path(sys.executable).parent / "gunicorn"
    assert executable.exists(), "gunicorn is not installed in this virtualenv"
    process = subprocess.Popen(
        [
            str(executable),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        cwd=EXAMPLE,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request(port, "GET", "/api/documents/")
                break
            except OSError:
                assert process.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
