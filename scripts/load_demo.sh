#!/usr/bin/env bash
# A checked load run through the demo server, on one store.
#
#   scripts/load_demo.sh STORE_URL [SECONDS] [load_demo options…]
#   scripts/load_demo.sh sqlite:///tmp/load.sqlite3 300      # the five-minute soak
#   SERVER_NOFILE=4096 scripts/load_demo.sh memory:// 30 --idle 5000 --max-bodies 100
#                                  # more idle connections than the server has descriptors
#
# Starts `tessera serve` on a free loopback port (server on core 0, load on core 1), runs
# examples/load_demo.rs against it with the server's pid (its memory is sampled), then stops
# the server. Exits non-zero on any failed request, lost update or server error log line.
set -euo pipefail
cd "$(dirname "$0")/.."

store="${1:?usage: scripts/load_demo.sh STORE_URL [SECONDS] [load_demo options…]}"
seconds="${2:-30}"
shift $(( $# >= 2 ? 2 : 1 ))

cargo build --release --quiet --bin tessera --example load_demo
target="${CARGO_TARGET_DIR:-target}/release"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp /tmp/tessera-load-XXXXXX.log)
cleanup() { [ -n "${server:-}" ] && kill -INT "$server" 2>/dev/null && wait "$server" 2>/dev/null; true; }
trap cleanup EXIT

# SERVER_NOFILE: the server's file-descriptor limit (soft and hard), as `ulimit -n`.
RUST_LOG=warn TESSERA_SECRET_KEY="load-run-$(date +%s%N)" \
  taskset -c 0 sh -c 'ulimit -n "${SERVER_NOFILE:-$(ulimit -Hn)}" && exec "$0" "$@"' \
  "$target/tessera" serve --addr "127.0.0.1:$port" --store "$store" 2>"$log" &
server=$!
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

echo "== $store, ${seconds}s, server pid $server"
status=0
taskset -c 1 "$target/examples/load_demo" --addr "127.0.0.1:$port" --seconds "$seconds" \
  --server-pid "$server" "$@" || status=$?
cleanup
server=
if [ -s "$log" ]; then
  echo "server log (warnings and errors):"
  head -20 "$log"
  status=1
fi
rm -f "$log"
exit $status
