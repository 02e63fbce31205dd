"""Run the example project as real server processes: under ``runserver`` for the example-project
and playground tests (:class:`ExampleServer`, the session fixture ``example_server``), under
gunicorn for the multi-process tests (:func:`gunicorn`)."""

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_project"
STARTUP_LIMIT = 60.0  # seconds from "migrate" to the first answer (issue 5)


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


@dataclass
class ExampleServer:
    """The example project served by ``runserver`` on a free port, with its own database."""

    directory: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "server.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # pytest-django exported the test suite's settings module; the project has its own.
        env["DJANGO_SETTINGS_MODULE"] = "config.settings"
        env["DATABASE_URL"] = f"sqlite:///{self.directory / 'example.sqlite3'}"
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("PYTHONPATH", None)
        return env

    def manage(self, *args: str) -> str:
        """Run the project's manage.py against this server's database; its output."""
        return manage(*args, env=self.env())

    def start(self) -> None:
        started = time.monotonic()
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("load_demo_data")
        for _attempt in range(3):  # another process may take the free port first
            self.port = free_port()
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        "manage.py",
                        "runserver",
                        "--noreload",
                        "--skip-checks",
                        f"127.0.0.1:{self.port}",
                    ],
                    cwd=EXAMPLE,
                    env=self.env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            if self._wait_until_serving(started):
                self.startup_seconds = time.monotonic() - started
                return
            self.stop()
        pytest.fail(f"The example project did not start:\n{self.log_path.read_text()}")

    def _wait_until_serving(self, started: float) -> bool:
        assert self.process is not None
        while time.monotonic() - started < STARTUP_LIMIT:
            if self.process.poll() is not None:
                return False
            try:
                if request(self.port, "GET", "/")[0] == 200:
                    return True
            except OSError:  # not listening yet
                time.sleep(0.05)
        pytest.fail(
            f"The example project did not answer within {STARTUP_LIMIT:.0f} s:\n"
            f"{self.log_path.read_text()}"
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
