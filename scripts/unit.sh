#!/usr/bin/env bash
# Builds the pure C++ rooms (no PostgreSQL headers) and runs their GoogleTest suites with ctest.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$ROOT" -B "$ROOT/build-unit" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$ROOT/build-unit" -j"$(nproc)" >/dev/null
ctest --test-dir "$ROOT/build-unit" --output-on-failure
