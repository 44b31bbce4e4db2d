#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600, the hardening issue's bar) with
# libFuzzer, a 2 GiB memory limit and the committed corpus as seeds. Stable toolchains need
# RUSTC_BOOTSTRAP=1 for the sanitizer flags cargo-fuzz passes.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]   (needs: cargo install cargo-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}; shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  echo "== $t ($secs s)"
  # New inputs go to a scratch corpus; the committed one stays small and reviewed.
  scratch=$(mktemp -d)
  cargo fuzz run "$t" "$scratch" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=262144 \
    -artifact_prefix="fuzz/artifacts/$t/" 2>&1 | grep -E "^(#[0-9]+ +DONE|==|SUMMARY|Done|INFO: fuzzing)" || true
  rm -rf "$scratch"
done
