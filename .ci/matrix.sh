#!/usr/bin/env bash
# The version matrix: each line is a Python, a Django, a DRF and the databases to run on.
# Usage: .ci/matrix.sh [NAME...]   (no argument: every entry)
# Virtualenvs live in .venv-matrix/NAME and are rebuilt only when pyproject.toml changes.
set -euo pipefail

cd "$(dirname "$0")/.."

POSTGRES_URL=${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/preconditions}
MARIADB_URL=${MARIADB_URL:-mysql://root@127.0.0.1:3306/preconditions}

#      name              python  django            drf                      databases
MATRIX=(
  "py310-dj52-drf-old  3.10    Django>=5.2,<5.3  djangorestframework==3.16.*  sqlite,postgres,mariadb"
  "py312-dj60          3.12    Django>=6.0,<6.1  djangorestframework        sqlite"
  "py313-dj60          3.13    Django>=6.0,<6.1  djangorestframework        sqlite"
  "py313-dj61-drf-new  3.13    Django>=6.1,<6.2  djangorestframework        sqlite,postgres,mariadb"
)

python_for() {
  local version=$1 candidate
  candidate=$(ls -d /root/.pyenv/versions/"$version".*/bin/python"$version" 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$candidate" ]; then
    candidate=$(command -v "python$version" || true)
  fi
  if [ -z "$candidate" ]; then
    echo "ERROR: Python $version is not installed (pyenv install $version)." >&2
    return 1
  fi
  echo "$candidate"
}

run_entry() {
  local name=$1 python=$2 django=$3 drf=$4 databases=$5
  local venv=.venv-matrix/$name stamp=.venv-matrix/$name/.installed.stamp
  echo
  echo "---- $name: Python $python, $django, $drf, on $databases ----"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    rm -rf "$venv"
    "$(python_for "$python")" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e '.[test]' "$django" "$drf"
    if [[ $databases == *mariadb* ]]; then
      .ci/system-packages.sh libmariadb-dev pkg-config
      "$venv/bin/python" -m pip install --quiet 'mysqlclient>=2.2.1'
    fi
    touch "$stamp"
  fi
  "$venv/bin/python" -c 'import django, rest_framework, sys; print("Python", sys.version.split()[0], "Django", django.get_version(), "DRF", rest_framework.VERSION)'
  local database url
  IFS=, read -ra dbs <<<"$databases"
  for database in "${dbs[@]}"; do
    case $database in
      sqlite) url="" ;;
      postgres) .ci/services.sh postgres >/dev/null; url=$POSTGRES_URL ;;
      mariadb) .ci/services.sh mariadb >/dev/null; url=$MARIADB_URL ;;
    esac
    echo "  -> $database"
    local rc=0
    # Browser tests run once, in the main suite (`make test`), not in every combination.
    if [ -z "$url" ]; then
      env -u DATABASE_URL "$venv/bin/python" -m pytest -q -p no:cacheprovider -m "not browser and not schemathesis" ${PYTEST_ARGS:-} || rc=$?
    else
      DATABASE_URL=$url "$venv/bin/python" -m pytest -q -p no:cacheprovider -m "not browser and not schemathesis" ${PYTEST_ARGS:-} || rc=$?
    fi
    if [ $rc -eq 5 ]; then
      echo "ERROR: pytest collected no tests in $name on $database." >&2
    fi
    if [ $rc -ne 0 ]; then
      echo "FAILED: $name on $database (exit $rc)" >&2
      return $rc
    fi
  done
}

selected=("$@")
for entry in "${MATRIX[@]}"; do
  read -r name python django drf databases <<<"$entry"
  if [ ${#selected[@]} -gt 0 ] && [[ ! " ${selected[*]} " == *" $name "* ]]; then
    continue
  fi
  run_entry "$name" "$python" "$django" "$drf" "$databases"
done
echo
echo "Matrix passed."
