#!/usr/bin/env bash
# Two jwtd builds side by side: client_credentials, JWKS and refresh rotations on PostgreSQL, in
# alternating windows (the order flips every round), each on a fresh database. Prints each
# window's req/s and the median of the pairs' ratios (B/A): on a shared, noisy machine that is
# the comparison that means something, where two full runs minutes apart may differ by 2x.
#
# Usage: bench/ab.sh BIN_A BIN_B [ROUNDS]
#   e.g. git worktree add /tmp/base dfe935e && (cd /tmp/base && cargo build --release -p jwtd)
#        bench/ab.sh /tmp/base/target/release/jwtd target/release/jwtd
# Env: JWTD_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), where
#      databases jwtd_ab_a and jwtd_ab_b are created and dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
bin_a=${1:?BIN_A}; bin_b=${2:?BIN_B}; rounds=${3:-5}
admin_url=${JWTD_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release -q -p jwtd-loadgen
loadgen=${CARGO_TARGET_DIR:-target}/release/jwtd-loadgen
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for v in a b; do psql "$admin_url" -qc "DROP DATABASE IF EXISTS jwtd_ab_$v WITH (FORCE)" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port_of() { [ "$1" = a ] && echo 18181 || echo 18182; }

start() { # v bin
  local v=$1 bin=$2 port; port=$(port_of "$v")
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS jwtd_ab_$v WITH (FORCE)" -qc "CREATE DATABASE jwtd_ab_$v" 2>/dev/null
  local url=${admin_url%/*}/jwtd_ab_$v
  export JWTD_CONFIG_DIR=/nonexistent JWTD__DATABASE__URL=$url JWTD__DATA_DIR=$work/$v \
    JWTD__HTTP__ADDR=127.0.0.1:$port JWTD__ISSUER=http://127.0.0.1:$port JWTD__ADMIN__BOOTSTRAP=false
  "$bin" >"$work/$v.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  "$bin" clients create --name app --scope read --grant password --grant refresh_token --json >"$work/$v-app.json"
  "$bin" clients create --name svc --scope read --grant client_credentials --json >"$work/$v-svc.json"
  for i in $(seq 1 64); do
    printf 'bench-password\n' | "$bin" users create --email "u$i@example.com" --password-stdin >/dev/null
  done
}

run() { # v scenario -> req/s
  local v=$1 port; port=$(port_of "$v")
  local app=$work/$v-app.json svc=$work/$v-svc.json
  case $2 in
    client_credentials) "$loadgen" "http://127.0.0.1:$port/oauth2/token" --scenario post -c 32 -d 4 --warmup 1 \
      --body "grant_type=client_credentials&client_id=$(jq -r .client_id "$svc")&client_secret=$(jq -r .client_secret "$svc")" ;;
    jwks) "$loadgen" "http://127.0.0.1:$port/.well-known/jwks.json" -c 32 -d 3 --warmup 1 ;;
    refresh) "$loadgen" "http://127.0.0.1:$port/oauth2/token" --scenario refresh -c 32 -d 4 --warmup 1 \
      --client-id="$(jq -r .client_id "$app")" --client-secret="$(jq -r .client_secret "$app")" \
      --password=bench-password --users 64 ;;
  esac | jq -r .rps # the load generator's JSON line (jwtd_loadgen::LoadReport)
}

start a "$bin_a"
start b "$bin_b"
for scenario in client_credentials jwks refresh; do
  ratios=()
  for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then a=$(run a $scenario); b=$(run b $scenario); else b=$(run b $scenario); a=$(run a $scenario); fi
    ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
    ratios+=("$ratio")
    echo "$scenario, round $round: A $a req/s, B $b req/s, B/A $ratio"
  done
  median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  echo "$scenario: median of the pairs' B/A = $median"
done
