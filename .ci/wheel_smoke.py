"""The built wheel, not this checkout: check what it contains, install it into a fresh
virtualenv, and run the quickstart project (tests/support/quickstart_project.py) against it.

Usage: python .ci/wheel_smoke.py [--python PYTHON] dist/django_preconditions-*.whl
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "django_preconditions"
sys.path.insert(0, str(ROOT))

from tests.support.quickstart_project import build_and_check  # noqa: E402


def expected_members() -> set[str]:
    """Every data file of the package, its migrations and, once there are catalogs, each
    ``.po`` and its compiled ``.mo``."""
    members = {"django_preconditions/py.typed"}
    for folder in ("templates", "static", "migrations", "locale"):
        if not (PACKAGE / folder).is_dir():
            continue
        for path in (PACKAGE / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                members.add(path.relative_to(ROOT).as_posix())
                if path.suffix == ".po":
                    members.add(path.with_suffix(".mo").relative_to(ROOT).as_posix())
    return members


def check_contents(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    missing = sorted(expected_members() - set(names))
    assert not missing, f"missing from {wheel.name}: {missing}"
    licences = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
    assert licences, f"no LICENSE in {wheel.name}"
    strays = [
        name
        for name in names
        if not name.startswith(("django_preconditions/", "django_preconditions-"))
    ]
    assert not strays, f"{wheel.name} ships files outside the package: {strays}"
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter of the new virtualenv"
    )
    parser.add_argument("wheel", type=Path)
    arguments = parser.parse_args()
    started = time.monotonic()

    names = check_contents(arguments.wheel)
    print(
        f"{arguments.wheel.name}: {len(names)} files, LICENSE, py.typed, templates, static, "
        f"migrations{', locale' if (PACKAGE / 'locale').is_dir() else ''} present"
    )

    with tempfile.TemporaryDirectory(prefix="wheel-smoke-") as directory:
        venv = Path(directory) / "venv"
        subprocess.run([arguments.python, "-m", "venv", str(venv)], check=True)
        python = venv / "bin" / "python"
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"{arguments.wheel.resolve()}[drf]"],
            check=True,
        )
        # Imported from the new virtualenv's site-packages, from outside the checkout.
        location = subprocess.run(
            [
                str(python),
                "-c",
                "import django_preconditions; print(django_preconditions.__file__)",
            ],
            cwd=directory,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert location.startswith(str(venv)), f"imported from {location}, not the wheel"
        print(f"installed in a fresh virtualenv: {location}")

        project = Path(directory) / "project"
        project.mkdir()
        for entry in build_and_check(python, project):
            print(entry.splitlines()[0])
    print(f"Wheel smoke test passed in {time.monotonic() - started:.0f}s.")


if __name__ == "__main__":
    main()
