#!/usr/bin/env bash
# make bench: every benchmark under bench/*/run.sh, one after another (never run by CI).
# Each prints its own figures; bench/README.md says how to read them. Runs them all even when one
# fails; the exit code is non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")"
failed=()
for script in */run.sh; do
  name=${script%/run.sh}
  echo "=== bench: $name"
  if bash "$script"; then echo "=== $name: done"; else echo "=== $name: FAILED"; failed+=("$name"); fi
  echo
done
if [ ${#failed[@]} -gt 0 ]; then echo "failed benchmarks: ${failed[*]}"; exit 1; fi
