#!/usr/bin/env bash
# Checks, before anything is built, that the servers the store tests use are listening. CI runs
# against the machine's own PostgreSQL, MariaDB and Redis; a missing one fails the run here, by
# name, instead of minutes later in the tests (which fail too: in CI an absent server is never
# a skip). The addresses are the tests' own defaults, or the URLs in their variables.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# host:port of a URL such as postgres://postgres@127.0.0.1:5432/test.
host_port() {
  local rest="${1#*://}"
  rest="${rest%%/*}"
  rest="${rest%%\?*}"
  rest="${rest##*@}"
  echo "${rest%%,*}"
}

missing=0
for spec in \
  "PostgreSQL TESSERA_TEST_POSTGRES_URL postgres://postgres@127.0.0.1:5432/test" \
  "MariaDB TESSERA_TEST_MYSQL_URL mysql://root@127.0.0.1:3306/test" \
  "Redis TESSERA_TEST_REDIS_URL redis://127.0.0.1:6379"; do
  read -r name var default <<<"$spec"
  addr=$(host_port "${!var:-$default}")
  if port_open "${addr%:*}" "${addr##*:}"; then
    echo "$name: listening on $addr"
  else
    echo "!! $name is not listening on $addr (set $var to its URL)" >&2
    missing=1
  fi
done
exit "$missing"
