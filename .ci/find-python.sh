#!/usr/bin/env bash
# Print the path of a working interpreter for Python X.Y, or fail saying how to install one.
# Usage: .ci/find-python.sh 3.12
# Tried in order: pyenv's newest X.Y.* (`pyenv latest` + `pyenv prefix`, whichever pyenv root
# this machine has), then `pythonX.Y` on PATH when it really runs (a pyenv shim for a version
# that is not selected does not), then uv's interpreters.
set -euo pipefail

version=${1:?usage: $0 X.Y}

works() { [ -n "$1" ] && "$1" -c 'import sys' >/dev/null 2>&1; }

if command -v pyenv >/dev/null 2>&1; then
  if latest=$(pyenv latest "$version" 2>/dev/null) && prefix=$(pyenv prefix "$latest" 2>/dev/null); then
    candidate=$prefix/bin/python$version
    if works "$candidate"; then
      echo "$candidate"
      exit 0
    fi
  fi
fi

candidate=$(command -v "python$version" || true)
if works "$candidate"; then
  echo "$candidate"
  exit 0
fi

if command -v uv >/dev/null 2>&1; then
  candidate=$(uv python find "$version" 2>/dev/null || true)
  if works "$candidate"; then
    echo "$candidate"
    exit 0
  fi
fi

echo "ERROR: no Python $version found (pyenv install $version, or put python$version on PATH)." >&2
exit 1
