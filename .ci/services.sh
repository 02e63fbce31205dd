#!/usr/bin/env bash
# Start the database services the tests use, if they are not answering, and wait up to 60 s.
# Usage: .ci/services.sh [postgres] [mariadb]   (no argument: both)
set -euo pipefail

WAIT_SECONDS=60

postgres_ready() { pg_isready -q -h 127.0.0.1 -p 5432 -U postgres; }
mariadb_ready() { mariadb -h127.0.0.1 -P3306 -uroot -e 'select 1' >/dev/null 2>&1; }

wait_for() {
  local name=$1 check=$2 i
  for ((i = 0; i < WAIT_SECONDS; i++)); do
    if "$check"; then
      echo "$name is up."
      return 0
    fi
    sleep 1
  done
  echo "ERROR: $name did not answer on 127.0.0.1 within ${WAIT_SECONDS}s." >&2
  return 1
}

start_postgres() {
  if ! postgres_ready; then
    echo "Starting PostgreSQL..."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  fi
  wait_for PostgreSQL postgres_ready
  # The tests use test_preconditions; the main database is created for manage.py and friends.
  if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='preconditions'" | grep -q 1; then
    createdb -h 127.0.0.1 -U postgres preconditions
  fi
}

start_mariadb() {
  if ! mariadb_ready; then
    echo "Starting MariaDB..."
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  fi
  wait_for MariaDB mariadb_ready
  mariadb -h127.0.0.1 -P3306 -uroot \
    -e 'CREATE DATABASE IF NOT EXISTS preconditions CHARACTER SET utf8mb4'
}

services=("$@")
if [ ${#services[@]} -eq 0 ]; then
  services=(postgres mariadb)
fi
for service in "${services[@]}"; do
  case "$service" in
    postgres) start_postgres ;;
    mariadb) start_mariadb ;;
    *) echo "ERROR: unknown service '$service' (expected postgres or mariadb)." >&2; exit 2 ;;
  esac
done
