#!/usr/bin/env bash
# Tests django-tessera against a real Django 5.2 on SQLite, PostgreSQL and Redis.
#
# The venv is made once under ${TESSERA_PY_VENV:-~/.cache/tessera-py-venv} and reused while it
# imports Django 5.2, psycopg and redis; the package itself is used from src/ (PYTHONPATH).
# PostgreSQL (TESSERA_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test) gets
# a schema of the run's own, dropped at the end; Redis (TESSERA_TEST_REDIS_URL, default
# redis://127.0.0.1:6379) only keys of the run's own, deleted at the end. A missing server is a loud skip, or a failure when CI is set.
# Extra arguments go to unittest (e.g. -k concurrent).
set -euo pipefail
cd "$(dirname "$0")"

venv="${TESSERA_PY_VENV:-${HOME:-/root}/.cache/tessera-py-venv}"
python="$venv/bin/python"
base="${TESSERA_TEST_PYTHON:-python3}"

venv_ok() {
  "$python" -c 'import django, psycopg, redis; assert django.VERSION[:2] == (5, 2)' 2>/dev/null
}

if ! venv_ok; then
  # Made from scratch whenever the check fails, so a half-made venv is never used.
  echo "== making the test venv in $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$base" -m venv "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check \
    'Django>=5.2,<6' 'psycopg[binary]' redis
  venv_ok || { echo "!! the venv in $venv does not import Django 5.2, psycopg and redis" >&2; exit 1; }
fi

"$python" -c 'import django, sys; print(f"== django-tessera tests: Django {django.get_version()}, Python {sys.version.split()[0]}")'
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec "$python" -m unittest discover -s tests -t . "$@"
