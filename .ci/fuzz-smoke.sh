#!/usr/bin/env bash
# CI fuzz smoke run: build every cargo-fuzz target in fuzz/ once, then run each for a few
# seconds on a copy of its committed corpus (fuzz/corpus/<target>, left untouched).
# Any crash, panic, timeout or out-of-memory fails the run.
#
# Toolchain: stable, no sanitizer (`-s none`). Stable is the one toolchain every machine here
# has; AddressSanitizer needs nightly, and the crate forbids unsafe code. The long runs in
# docs/security.md use nightly with AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${FUZZ_SMOKE_SECONDS:-15}"
TOOLCHAIN=stable
CARGO_FUZZ_VERSION=0.13.2
# Reuse builds between runs from a cache folder outside the clone.
TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/tessera-ci-target}/fuzz"

# A CI run: CI set to anything but empty, 0, false, no or off (any case), as in the tests.
ci() {
  case "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" in
    "" | 0 | false | no | off) return 1 ;;
    *) return 0 ;;
  esac
}

missing() {
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  echo "!! fuzz smoke: $*" >&2
  local rc=0
  if ci; then
    echo "!! CI=${CI}: failing the run" >&2
    rc=1
  else
    echo "!! NOT RUN: skipping the fuzz smoke run (it fails in CI)" >&2
  fi
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  exit "$rc"
}

command -v rustup >/dev/null || missing "rustup not found (needed for the $TOOLCHAIN toolchain)"
rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1 ||
  missing "the $TOOLCHAIN Rust toolchain is not installed (rustup toolchain list)"
cargo() { command cargo "+$TOOLCHAIN" "$@"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== fuzz smoke: cargo-fuzz not found, installing cargo-fuzz $CARGO_FUZZ_VERSION"
  log=/tmp/tessera-ci-cargo-fuzz-install.log
  if ! cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked >"$log" 2>&1; then
    cat "$log"
    missing "installing cargo-fuzz failed"
  fi
fi

echo "== fuzz smoke: building all targets ($(cargo fuzz --version), $TOOLCHAIN, no sanitizer)"
cargo fuzz build -s none --target-dir "$TARGET_DIR"

mapfile -t targets < <(cargo fuzz list)
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz smoke: no targets found" >&2; exit 1; }

work="$(mktemp -d /tmp/tessera-fuzz-smoke.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# One target: a copy of its corpus, its log and its exit code, all in $work.
smoke() {
  local t="$1" rc=0
  mkdir -p "$work/$t"
  if [ -d "fuzz/corpus/$t" ]; then cp -R "fuzz/corpus/$t/." "$work/$t/"; fi
  # -timeout bounds one input; `timeout` bounds the whole run should libFuzzer itself hang.
  timeout --kill-after=10 "$((SECS + 120))" \
    cargo fuzz run -s none --target-dir "$TARGET_DIR" "$t" "$work/$t" -- \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$work/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$t.rc"
}

# As many targets at a time as there are cores (each libFuzzer process uses one).
jobs_max="$(nproc)"
echo "== fuzz smoke: ${#targets[@]} targets, ${SECS}s each, $jobs_max at a time"
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  smoke "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
  rc="$(cat "$work/$t.rc" 2>/dev/null || echo none)"
  if [ "$rc" = 0 ]; then
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || true)"
    echo "ok   $t: ${runs:-?} executions in ${SECS}s, $(ls "$work/$t" | wc -l) corpus files"
  else
    echo "FAIL $t, exit $rc (last lines of its log):"
    tail -n 60 "$work/$t.log"
    failed+=("$t")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "== fuzz smoke: FAILED: ${failed[*]} (crash inputs are under fuzz/artifacts/)" >&2
  exit 1
fi
echo "== fuzz smoke: ${#targets[@]} targets, ${SECS}s each, no crash"
