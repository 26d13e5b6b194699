#!/usr/bin/env bash
# Builds and tests ci/downstream (an app depending on tessera with default features, outside
# tessera's workspace), then checks what tessera brings into that app's build:
# - none of the CLI's crates (clap, indicatif, tracing-subscriber) and not the full axum;
# - one generation of each RustCrypto crate and of getrandom;
# and prints the app's dependency count, for docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")"

echo "== downstream: cargo test (default features)"
cargo test --quiet

fail=0
# tessera's own subtree, as resolved in the app's build.
ours="$(cargo tree -p tessera -e normal --prefix none)"
for crate in clap indicatif tracing-subscriber axum serde_json; do
  if grep -qE "^$crate v" <<<"$ours"; then
    echo "!! tessera brings $crate into the app's build:" >&2
    cargo tree -p tessera -e normal -i "$crate" >&2 || true
    fail=1
  fi
done

# The whole app: a crate in two versions is two generations.
dups="$(cargo tree -e normal --duplicates --prefix none 2>/dev/null || true)"
for crate in digest sha1 sha2 sha3 md-5 hmac crypto-common block-buffer getrandom; do
  if grep -qE "^$crate v" <<<"$dups"; then
    echo "!! two versions of $crate in the app's build:" >&2
    grep -E "^$crate v" <<<"$dups" >&2
    fail=1
  fi
done

all="$(cargo tree -e normal --prefix none | sed 's/ (\*)$//' | sort -u | wc -l)"
mine="$(sort -u <<<"$ours" | sed 's/ (\*)$//' | sort -u | wc -l)"
echo "== downstream: $all crates in the app's normal build, $mine of them in tessera's subtree"
[ "$fail" = 0 ] || { echo "== downstream: FAILED" >&2; exit 1; }
echo "== downstream: ok"
