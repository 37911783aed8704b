#!/usr/bin/env bash
# jwtd's benchmark: the program is bench/runner (jwtd-bench); see bench/README.md.
# Usage: bench/run.sh [--quick] [--out FILE] [-h]
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet -p jwtd-bench -- "$@"
