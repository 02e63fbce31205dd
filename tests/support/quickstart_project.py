"""Build the project of docs/quickstart.md from the page's own code blocks, serve it with
``runserver`` on 127.0.0.1 and a free port, and run the page's ``curl`` commands against it,
checking each documented answer. Standard library only: the wheel smoke test
(.ci/wheel_smoke.py) runs it with a virtualenv holding the built wheel instead of this checkout.

The page's fenced blocks are read by these annotations:

- ```` ```python title="PATH" ```` where PATH is a file of the project (``mysite/urls.py``): the
  first block for a path writes the file, later ones are appended to it. ``mysite/settings.py``
  is the exception: its blocks show settings (``INSTALLED_APPS`` and ``MIDDLEWARE`` with
  ``# ...`` for the entries ``startproject`` wrote), which are merged into the generated file.
- ```` ```python title="python manage.py shell" ````: the code is run by ``manage.py shell``.
- ```` ```console ````: each ``$ command`` is run in the project directory with the given
  interpreter's directory first on ``PATH``; the lines after a command up to the next ``$`` are
  its documented output. ``manage.py runserver`` starts the server (on a free port, which the
  later commands' ``127.0.0.1:8000`` is changed to); ``curl`` output is compared with the
  documented one (see :func:`compare`); other commands must succeed.
- ```` ```sh ```` blocks (installation) are shown, not run: the caller provides the
  interpreter with django-preconditions installed.

Any other python block on the page is an error, so nothing on it escapes the test.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
DOCUMENTED_ORIGIN = "127.0.0.1:8000"
FENCE = re.compile(r'^```(?P<lang>[\w-]*)(?:\s+title="(?P<title>[^"]*)")?\s*$')
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
QUOTED_TOKEN = re.compile(r'"([A-Za-z0-9_-]{22})"')
DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
SHELL = "python manage.py shell"


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    title: str | None
    code: str


def blocks(page: Path = QUICKSTART) -> list[Block]:
    """The page's top-level fenced blocks (the quickstart indents none it runs)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        start = FENCE.match(lines[index])
        if start is None:
            index += 1
            continue
        end = index + 1
        while lines[end].strip() != "```":
            end += 1
        code = "\n".join(lines[index + 1 : end]) + "\n"
        found.append(Block(index + 1, start.group("lang"), start.group("title"), code))
        index = end + 1
    return found


@dataclass
class Command:
    line: int
    text: str  # continuation lines joined
    output: str


def commands(block: Block) -> list[Command]:
    found: list[Command] = []
    current: Command | None = None
    continuing = False
    for offset, line in enumerate(block.code.splitlines()):
        if continuing and current is not None:
            current.text += " " + line.strip().removesuffix("\\").strip()
            continuing = line.rstrip().endswith("\\")
        elif line.startswith("$ "):
            current = Command(block.line + 1 + offset, line[2:].rstrip().removesuffix("\\"), "")
            continuing = line.rstrip().endswith("\\")
            found.append(current)
        elif current is not None:
            current.output += line + "\n"
        else:
            raise AssertionError(f"quickstart.md:{block.line}: output before any command")
    return found


# -- settings --------------------------------------------------------------------------------


def merge_settings(settings_py: Path, shown: str) -> None:
    """Apply a settings block as a reader would edit the generated settings.py: entries of the
    lists shown with ``# ...`` are added (after the last entry shown before them, in the order
    shown), other names are assigned."""
    tree = ast.parse(shown)
    lines = [settings_py.read_text(encoding="utf-8"), "", "# From docs/quickstart.md"]
    for statement in tree.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            lines.append(ast.unparse(statement))
            continue
        assert isinstance(statement, ast.Assign), ast.unparse(statement)
        (target,) = statement.targets
        assert isinstance(target, ast.Name)
        if target.id in ("INSTALLED_APPS", "MIDDLEWARE"):
            entries = ast.literal_eval(statement.value)
            lines.append(f"_shown = {entries!r}")
            lines.append(
                f"for _position, _entry in enumerate(_shown):\n"
                f"    if _entry not in {target.id}:\n"
                f"        _before = [e for e in _shown[:_position] if e in {target.id}]\n"
                f"        _at = {target.id}.index(_before[-1]) + 1 if _before else len({target.id})\n"
                f"        {target.id}.insert(_at, _entry)"
            )
        else:
            lines.append(ast.unparse(statement))
    settings_py.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- comparing curl output -----------------------------------------------------------------------


@dataclass
class Tokens:
    """Documented version tokens and the real ones they stand for, one to one."""

    real: dict[str, str] = field(default_factory=dict)

    def learn(self, documented: str, actual: str, where: str) -> None:
        known = self.real.get(documented)
        assert known in (None, actual), (
            f"{where}: {documented!r} stands for {known!r} earlier on the page, "
            f"but the server sent {actual!r}"
        )
        others = [doc for doc, real in self.real.items() if real == actual and doc != documented]
        assert not others, f"{where}: the server sent {actual!r} again, documented as {others[0]!r}"
        self.real[documented] = actual

    def substitute(self, text: str) -> str:
        return TOKEN.sub(lambda match: self.real.get(match.group(), match.group()), text)


def _normalised(text: str) -> str:
    return DATE.sub("<date>", QUOTED_TOKEN.sub('"<token>"', text.replace('\\"', '"')))


def parse_http(text: str) -> tuple[str, list[tuple[str, str]], str]:
    head, _, body = text.replace("\r\n", "\n").strip("\n").partition("\n\n")
    status, *header_lines = head.splitlines()
    headers = [
        (name.strip(), value.strip()) for name, _, value in (h.partition(":") for h in header_lines)
    ]
    return status.strip(), headers, body.strip()


def compare(documented: str, actual: str, tokens: Tokens, where: str) -> None:
    """The status line must be the same; every documented header must be there with the same
    value (dates aside; a documented token must stand for one real token throughout the page);
    the body must equal the documented one, or, where that is shortened with ``...``, contain
    each of its parts (tokens aside)."""
    doc_status, doc_headers, doc_body = parse_http(documented)
    status, headers, body = parse_http(actual)
    assert status == doc_status, f"{where}: status {status!r}, documented {doc_status!r}\n{actual}"
    received = {name.lower(): value for name, value in headers}
    for name, value in doc_headers:
        assert name.lower() in received, f"{where}: no {name} header in\n{actual}"
        real = received[name.lower()]
        if name.lower() == "etag":
            tokens.learn(value.strip('"'), real.strip('"'), where)
        else:
            assert DATE.sub("<date>", value) == DATE.sub("<date>", real), (
                f"{where}: {name}: {real!r}, documented {value!r}"
            )
    if "..." not in doc_body:
        if doc_body.startswith("{"):
            assert json.loads(tokens.substitute(doc_body)) == json.loads(body), (
                f"{where}: body {body!r}, documented {doc_body!r}"
            )
        else:
            assert doc_body == body, f"{where}: body {body!r}, documented {doc_body!r}"
        return
    for part in re.split(r"\s*\.\.\.\s*", doc_body):
        part = part.strip(" ,{}")
        if part:
            assert _normalised(part) in _normalised(body), (
                f"{where}: {part!r} is not in the body {body!r}"
            )


# -- running -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def runserver(python: Path, project: Path, env: dict[str, str], log: Path) -> Iterator[int]:
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(python), "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=project,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"runserver exited:\n{log.read_text()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"runserver did not start:\n{log.read_text()}"
                time.sleep(0.2)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def build_and_check(python: Path, project: Path, page: Path = QUICKSTART) -> list[str]:
    """Follow the page in the empty directory ``project``; a transcript of what was run."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL"}
    }
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    transcript: list[str] = []
    tokens = Tokens()
    written: set[str] = set()
    port: int | None = None
    with ExitStack() as stack:
        for block in blocks(page):
            where = f"{page.name}:{block.line}"
            if block.lang == "python":
                assert block.title, f"{where}: a python block without a title= annotation"
                if block.title == SHELL:
                    run([str(python), "manage.py", "shell"], project, env, block.code, where)
                    transcript.append(f"{where}: manage.py shell")
                elif block.title == "mysite/settings.py":
                    merge_settings(project / block.title, block.code)
                    transcript.append(f"{where}: merged into {block.title}")
                else:
                    target = project / block.title
                    with target.open("a" if block.title in written else "w", encoding="utf-8") as f:
                        f.write(("\n\n" if block.title in written else "") + block.code)
                    transcript.append(
                        f"{where}: {'appended to' if block.title in written else 'wrote'} {block.title}"
                    )
                    written.add(block.title)
            elif block.lang == "console":
                for command in commands(block):
                    where = f"{page.name}:{command.line}"
                    argv = shlex.split(command.text)
                    if argv[:3] == ["python", "manage.py", "runserver"]:
                        port = stack.enter_context(
                            runserver(python, project, env, project / "runserver.log")
                        )
                        transcript.append(f"{where}: runserver on 127.0.0.1:{port}")
                        continue
                    if argv[0] == "curl":
                        assert port is not None, f"{where}: curl before runserver"
                        argv = [
                            tokens.substitute(arg).replace(DOCUMENTED_ORIGIN, f"127.0.0.1:{port}")
                            for arg in argv
                        ]
                        argv.insert(1, "--silent")
                        argv.insert(1, "--show-error")
                        result = run(argv, project, env, None, where)
                        compare(command.output, result, tokens, where)
                        transcript.append(f"{where}: {command.text}\n{result}")
                        continue
                    run(["bash", "-c", command.text], project, env, None, where)
                    transcript.append(f"{where}: {command.text}")
    return transcript


def run(argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None, where: str) -> str:
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"{where}: {shlex.join(argv)} exited {result.returncode}\n{result.stdout}{result.stderr}"
    )
    return result.stdout


if __name__ == "__main__":
    import argparse
    import sys
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", type=Path, default=Path(sys.executable))
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quickstart-") as directory:
        for entry in build_and_check(arguments.python, Path(directory)):
            print(entry)
