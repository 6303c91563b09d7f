#!/usr/bin/env bash
# A longer fuzzing pass than CI's: several seeds, FUZZ_CASES cases each (default 10 million).
# Usage: scripts/fuzz.sh [seeds...]
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${FUZZ_CASES:-10000000}"
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3 4 5 6 7 8)
for seed in "${seeds[@]}"; do
  FUZZ_SEED="$seed" FUZZ_CASES="$cases" cargo test --release --test fuzz -- --nocapture
done
