#!/usr/bin/env bash
# jwtd's benchmark: jwtd (PostgreSQL and SQLite) against node-oidc-provider and an
# Express + jsonwebtoken server, and against the raw RS256 and argon2id limits of this machine,
# in one run with one load generator. See bench/README.md.
#
# Usage: bench/run.sh [--quick] [--out FILE]
#   (full)   release build, 10 s per scenario, peers required; writes bench/RESULTS.md
#   --quick  smoke test for CI: the debug build, ~1 s per scenario, no thresholds; peers when
#            node and npm can install them, skipped otherwise; writes a temp file
# Env: JWTD_BENCH_DATABASE_URL (else JWTD_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres)
#      names a PostgreSQL server where a fresh database is created and dropped;
#      CARGO_TARGET_DIR is where the builds are (and found; default target);
#      JWTD_BENCH_PEERS_DIR caches the peers' npm install (default target/bench-peers).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=0
out=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --out) out=${2:?--out FILE}; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$quick" = 1 ]; then
  secs=1 warmup=0.3 conns=4 users=8 limit_secs=0.5 profile=debug rounds=1 round_secs=1
  out=${out:-${TMPDIR:-/tmp}/jwtd-bench-quick-$$.md}
else
  secs=10 warmup=2 conns=32 users=64 limit_secs=5 profile=release rounds=5 round_secs=4
  out=${out:-$root/bench/RESULTS.md}
fi
# The ratios that sit closest to their line on a shared machine (client_credentials vs
# oidc-provider, refresh rotations vs client_credentials, logins and sign-in form posts vs raw
# argon2id, code-flow cycles vs raw RS256 signing, the JWKS tail during a login flood vs alone)
# are measured in $rounds alternating pairs of short windows of $round_secs s; the ratio is the
# median of the pairs' ratios, each side's row the median of its windows (see bench/README.md).
# JWKS latency is measured at a fixed, unsaturated rate (alone and during a login flood).
jwks_rate=1000 jwks_conns=8

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jwtd-bench.XXXXXX")
pg_admin=${JWTD_BENCH_DATABASE_URL:-${JWTD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}
pg_db=jwtd_bench_$$
pg_url="${pg_admin%/*}/$pg_db"
pg_created=0
server_pids=() helper_pids=()

cleanup() {
  local status=$?
  set +e
  for pid in "${helper_pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${server_pids[@]}"; do
    for _ in $(seq 1 100); do # up to 10 s for a graceful stop
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
  done
  if [ "$pg_created" = 1 ]; then
    psql "$pg_admin" -qtAc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 ||
      log "could not drop database $pg_db"
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -------------------------------------------------------------------------------
# Where cargo builds (CARGO_TARGET_DIR, relative to the repository as cargo takes it from here).
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac
if [ "$profile" = release ]; then
  log "building release: jwtd, then the bench tools"
  cargo build --release -p jwtd
  cargo build --release -p jwtd-loadgen -p jwtd-limits
  bin=$target_dir/release
else
  bin=$target_dir/debug
  # Reuse the test suite's debug build unless the sources are newer.
  if [ ! -x "$bin/jwtd" ] || [ -n "$(find src migrations config Cargo.toml Cargo.lock -newer "$bin/jwtd" -print -quit)" ]; then
    log "building jwtd (debug)"
    cargo build -p jwtd
  fi
  cargo build -p jwtd-loadgen -p jwtd-limits
fi
jwtd=$bin/jwtd loadgen=$bin/jwtd-loadgen limits=$bin/jwtd-limits

# --- servers -----------------------------------------------------------------------------
# Below the kernel's ephemeral range (ip_local_port_range, 32768 and up by default), so an
# outgoing connection cannot take the port between this check and the server's bind.
free_port() {
  local port low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  for _ in $(seq 1 50); do
    port=$((10000 + RANDOM % (low > 12000 ? low - 11000 : 20000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "no free port found" >&2
  return 1
}

wait_ready() { # URL PID NAME: poll until 200, at most 60 s
  local url=$1 pid=$2 name=$3
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || { log "$name exited; its log:"; cat "$tmp/$name.log" >&2 || true; return 1; }
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  log "$name not ready after 60 s"
  return 1
}

master_key=$(openssl rand -base64 32)
mkdir -p "$tmp/pg" "$tmp/sqlite"
jwtd_env() { # NAME PORT DBURL: the environment of jwtd (server and CLI) for one instance
  echo "JWTD_CONFIG_DIR=$tmp/no-config" "JWTD__DATA_DIR=$tmp/$1" "JWTD__HTTP__ADDR=127.0.0.1:$2" \
    "JWTD__ISSUER=http://127.0.0.1:$2" "JWTD__DATABASE__URL=$3" "JWTD_MASTER_KEY=$master_key" \
    "JWTD__LOG__LEVEL=warn"
}
started= # the pid of the server a start_* function started (not $(…): the trap must know it)
start_jwtd() { # NAME PORT DBURL
  # shellcheck disable=SC2046
  env $(jwtd_env "$1" "$2" "$3") "$jwtd" serve >"$tmp/$1.log" 2>&1 &
  started=$!
  server_pids+=("$started")
  wait_ready "http://127.0.0.1:$2/readyz" "$started" "$1"
}
cli() { # NAME PORT DBURL ARGS...: the jwtd CLI against one instance's database
  local name=$1 port=$2 url=$3
  shift 3
  # shellcheck disable=SC2046
  env $(jwtd_env "$name" "$port" "$url") "$jwtd" "$@"
}
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

psql "$pg_admin" -qtAc "CREATE DATABASE $pg_db" >/dev/null
pg_created=1
pg_port=$(free_port)
start_jwtd pg "$pg_port" "$pg_url"
pg_pid=$started
sqlite_port=$(free_port)
sqlite_url="sqlite://$tmp/sqlite/jwtd.db"
start_jwtd sqlite "$sqlite_port" "$sqlite_url"
sqlite_pid=$started
log "jwtd on PostgreSQL: 127.0.0.1:$pg_port (pid $pg_pid); on SQLite: 127.0.0.1:$sqlite_port (pid $sqlite_pid)"

# Clients and users through the real CLI.
cc_pg=$(cli pg "$pg_port" "$pg_url" clients create --name bench --scope read --grant client_credentials --json)
cc_sqlite=$(cli sqlite "$sqlite_port" "$sqlite_url" clients create --name bench --scope read --grant client_credentials --json)
app_pg=$(cli pg "$pg_port" "$pg_url" clients create --name bench-app --scope read \
  --grant password --grant refresh_token --json)
form() { echo "grant_type=client_credentials&client_id=$(json_field client_id <<<"$1")&client_secret=$(json_field client_secret <<<"$1")"; }
cc_pg_form=$(form "$cc_pg")
cc_sqlite_form=$(form "$cc_sqlite")
app_id=$(json_field client_id <<<"$app_pg")
app_secret=$(json_field client_secret <<<"$app_pg")
# The browser scenarios' client: first-party with an https redirect URI (never visited), so no
# consent page comes between a signed-in browser and its code.
redirect_uri=https://app.example/cb
web_pg=$(cli pg "$pg_port" "$pg_url" clients create --name bench-web --scope "openid profile" \
  --grant authorization_code --grant refresh_token --redirect-uri "$redirect_uri" --first-party --json)
web_id=$(json_field client_id <<<"$web_pg")
# private_key_jwt: the load generator's ES256 key, registered as a client's public key; the load
# generator signs a fresh assertion (its own jti) for every request.
"$loadgen" http://127.0.0.1:1/ --write-key "$tmp/bench-key.pk8"
key_pg=$(cli pg "$pg_port" "$pg_url" clients create --name bench-key --scope read --grant client_credentials \
  --auth-method private_key_jwt --jwks-file "$tmp/bench-key.pk8.jwks.json" --json)
key_args=(--scenario assertion --client-id "$(json_field client_id <<<"$key_pg")" --key "$tmp/bench-key.pk8"
  --audience "http://127.0.0.1:$pg_port")
web_secret=$(json_field client_secret <<<"$web_pg")
password=bench-password-1234
# Token exchange (RFC 8693): a front end logs the users in for the orders API (the password grant
# with resource: each token's aud is exactly that API, its sid a live refresh family); the orders
# service, which serves that API, trades them for tokens for the payments API (client_secret_basic).
orders_api=https://orders.bench payments_api=https://payments.bench
front_pg=$(cli pg "$pg_port" "$pg_url" clients create --name bench-front --scope read --grant password \
  --resource "$orders_api" --json)
orders_pg=$(cli pg "$pg_port" "$pg_url" clients create --name bench-orders --scope read --grant token_exchange \
  --served-resource "$orders_api" --resource "$payments_api" --json)
exchange_args=(--scenario exchange --client-id="$(json_field client_id <<<"$front_pg")"
  --client-secret="$(json_field client_secret <<<"$front_pg")" --exchange-client-id="$(json_field client_id <<<"$orders_pg")"
  --exchange-client-secret="$(json_field client_secret <<<"$orders_pg")" --subject-resource="$orders_api"
  --resource="$payments_api" --password="$password" --users "$users")
log "creating $users users"
for i in $(seq 1 "$users"); do
  printf '%s\n' "$password" | cli pg "$pg_port" "$pg_url" users create --email "u$i@example.com" --password-stdin >/dev/null
done

# Peers.
peers=1
peers_dir=${JWTD_BENCH_PEERS_DIR:-$target_dir/bench-peers}
peers_src=$(cd "$root/.." && pwd)/shared/bench/peers
[ -x "$peers_src/start.sh" ] || peers_src=${JWTD_BENCH_PEERS_SRC:-/work/shared/bench/peers}
start_peer() { # NAME PORT (start.sh installs once, starts node in the background, polls)
  started=$("$peers_src/start.sh" "$1" "$2" "$peers_dir" 2>"$tmp/$1.log") || return 1
  server_pids+=("$started")
  # Any HTTP answer (404 at / included) means it listens.
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/")" != 000 ] ||
    { log "$1 does not answer; see $peers_dir/$1.log"; return 1; }
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null || [ ! -x "$peers_src/start.sh" ]; then
  [ "$quick" = 1 ] || { log "the peers need node, npm and $peers_src"; exit 1; }
  log "no node/npm or peers: skipping the peers"
  peers=0
else
  oidc_port=$(free_port)
  express_port=$(free_port)
  if start_peer oidc-provider "$oidc_port" && oidc_pid=$started &&
    start_peer express-design "$express_port" && express_pid=$started; then
    log "oidc-provider on 127.0.0.1:$oidc_port (pid $oidc_pid), express-design on 127.0.0.1:$express_port (pid $express_pid)"
  else
    [ "$quick" = 1 ] || { log "the peers did not start"; exit 1; }
    log "the peers did not start (npm install?): skipping them"
    peers=0
  fi
fi
peer_form="grant_type=client_credentials&client_id=bench&client_secret=bench-secret-0123456789abcdef0123456789"

# --- the limits --------------------------------------------------------------------------
token=$(curl -fsS -d "$cc_pg_form" "http://127.0.0.1:$pg_port/oauth2/token" | json_field access_token)
signing_input=${token%.*}
field() { # LINE KEY
  local kv
  for kv in $1; do
    if [ "${kv%%=*}" = "$2" ]; then
      echo "${kv#*=}"
      return
    fi
  done
  echo "-"
}
# Each limit is measured beside the scenarios compared with it, so the host's noise of those
# minutes hits both sides of the ratio: RS256 right before and after the client_credentials
# scenarios (the higher counts: noise only ever lowers a ceiling), argon2id right before each
# logins window (the median counts, as for the logins).
limits_lines=()
limit_line() { # rs256 | argon2id SECS: print one measurement's line
  log "raw $1 limit on $(nproc) cores (message of ${#signing_input} bytes, a jwtd access token's signing input)"
  "$limits" --only "$1" --secs "$2" --message-len "${#signing_input}"
}
measure_limits() { # rs256 | argon2id [SECS]: one measurement, kept in limits_lines
  limits_lines+=("$(limit_line "$1" "${2:-$limit_secs}")")
}
# A limit measured right before each window of a scenario compared with it: 0.6 of a window.
before_window=$(awk -v s="$round_secs" 'BEGIN { print s * 0.6 }')
best_limit() { # KEY
  local line best=0 v
  for line in "${limits_lines[@]}"; do
    v=$(field "$line" "$1")
    best=$(awk -v a="$best" -v b="$v" 'BEGIN { print (b + 0 > a + 0) ? b : a }')
  done
  echo "$best"
}
measure_limits rs256

# --- scenarios ---------------------------------------------------------------------------
rows=()
declare -A result
measure() { # KEY SCENARIO SECS PID URL ARGS...: run one load, print its line
  local key=$1 scenario=$2 duration=$3 pid=$4 url=$5
  shift 5
  log "$scenario"
  "$loadgen" "$url" --label "$key" -d "$duration" --warmup "$warmup" --watch-pid "$pid" "$@"
}
load() { # KEY SCENARIO SERVER PID URL ARGS...: run one load, remember its line
  local key=$1 scenario=$2 server=$3
  shift 3
  result[$key]=$(measure "$key" "$scenario on $server" "$secs" "$@")
  rows+=("$key|$scenario|$server")
}
# One line out of several windows' lines (stdin): the median of each measure, the sum of the
# counts, the highest RSS.
medians() {
  awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); k = kv[1]; if (!(k in n)) order[++keys] = k
         v[k, ++n[k]] = kv[2] } }
    END { for (j = 1; j <= keys; j++) { k = order[j]; m = n[k]
        if (k ~ /^(requests|ok|errors|io_errors|secs)$/) { t = 0; for (i = 1; i <= m; i++) t += v[k, i]; out = t }
        else if (k == "peak_rss_kib") { t = 0; for (i = 1; i <= m; i++) if (v[k, i] + 0 > t) t = v[k, i] + 0; out = t }
        else if (v[k, 1] ~ /^[0-9.]+$/) {
          for (i = 1; i <= m; i++) a[i] = v[k, i]
          for (i = 2; i <= m; i++) { x = a[i]; for (h = i - 1; h >= 1 && a[h] + 0 > x + 0; h--) a[h + 1] = a[h]; a[h + 1] = x }
          out = (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
        else out = v[k, 1]
        printf "%s%s=%s", (j > 1 ? " " : ""), k, out }
      print "" }'
}

# The median of the ratios of paired windows: "a1 a2 …" over "b1 b2 …" ("-" when none pairs).
# The host's speed changes between windows (seen here: the same hash taking 21 or 32 ms of CPU a
# few seconds apart), so only the two windows of a pair share its state; medians taken of each
# side separately can pair one side's fast windows with the other's slow ones.
paired_median() {
  awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " "); m = 0
    for (i = 1; i <= n; i++) if (x[i] ~ /^[0-9.]+$/ && y[i] + 0 > 0) r[++m] = x[i] / y[i]
    if (m == 0) { print "-"; exit }
    for (i = 2; i <= m; i++) { v = r[i]; for (h = i - 1; h >= 1 && r[h] > v; h--) r[h + 1] = r[h]; r[h + 1] = v }
    printf "%.2f", (m % 2) ? r[(m + 1) / 2] : (r[m / 2] + r[m / 2 + 1]) / 2 }'
}
fields() { # KEY LINE...: that field of each line, space-separated
  local key=$1 line
  shift
  for line in "$@"; do printf '%s ' "$(field "$line" "$key")"; done
}
windows_of() { # KEY A-LINES B-LINES (names of arrays): "a1/b1, a2/b2, …" of that field
  local -n as=$2 bs=$3
  local i
  for i in "${!as[@]}"; do printf '%s/%s, ' "$(field "${as[$i]}" "$1")" "$(field "${bs[$i]:-}" "$1")"; done | sed 's/, $//'
}

median_of=
[ "$rounds" -gt 1 ] && median_of=", median of $rounds windows"
pg=http://127.0.0.1:$pg_port sqlite=http://127.0.0.1:$sqlite_port
cc_jwtd_args=("$pg_pid" "$pg/oauth2/token" --scenario post --body "$cc_pg_form" -c "$conns")
cc_jwtd_lines=() cc_oidc_lines=()
if [ "$peers" = 1 ]; then
  # jwtd against oidc-provider: alternating windows, jwtd first.
  for round in $(seq 1 "$rounds"); do
    cc_jwtd_lines+=("$(measure cc_pg "client_credentials on jwtd (PostgreSQL), window $round of $rounds" "$round_secs" "${cc_jwtd_args[@]}")")
    cc_oidc_lines+=("$(measure cc_oidc "client_credentials on oidc-provider, window $round of $rounds" "$round_secs" \
      "$oidc_pid" "http://127.0.0.1:$oidc_port/token" --scenario post --body "$peer_form" -c "$conns")")
  done
  result[cc_pg]=$(printf '%s\n' "${cc_jwtd_lines[@]}" | medians)
  result[cc_oidc]=$(printf '%s\n' "${cc_oidc_lines[@]}" | medians)
  rows+=("cc_pg|client_credentials$median_of|jwtd (PostgreSQL)")
else
  load cc_pg client_credentials "jwtd (PostgreSQL)" "${cc_jwtd_args[@]}"
fi
load cc_sqlite client_credentials "jwtd (SQLite)" "$sqlite_pid" "$sqlite/oauth2/token" --scenario post --body "$cc_sqlite_form" -c "$conns"
if [ "$peers" = 1 ]; then
  rows+=("cc_oidc|client_credentials$median_of|oidc-provider")
  load cc_express client_credentials express-design "$express_pid" "http://127.0.0.1:$express_port/token" --scenario post --body "$peer_form" -c "$conns"
fi
measure_limits rs256

etag=$(curl -fsS -D - -o /dev/null "$pg/.well-known/jwks.json" | sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p')
[ -n "$etag" ] || { log "the JWKS has no ETag"; exit 1; }
load jwks_pg JWKS "jwtd (PostgreSQL)" "$pg_pid" "$pg/.well-known/jwks.json" -c "$conns"
load jwks_pg_304 "JWKS, If-None-Match (304)" "jwtd (PostgreSQL)" "$pg_pid" "$pg/.well-known/jwks.json" -c "$conns" -H "If-None-Match: $etag"
if [ "$peers" = 1 ]; then
  load jwks_oidc JWKS oidc-provider "$oidc_pid" "http://127.0.0.1:$oidc_port/jwks" -c "$conns"
fi

# `--flag=value`: a random id or secret may begin with "-".
user_args=(--client-id="$app_id" --client-secret="$app_secret" --password="$password" --users "$users")
# PostgreSQL's share: the backends serving jwtd's pool, grown to this load's size by a short
# unmeasured run first, have their CPU time counted per request.
"$loadgen" "$pg/oauth2/token" --label pool-warm-up -d "$warmup" --warmup 0 --scenario refresh -c "$conns" "${user_args[@]}" >/dev/null
# Only when PostgreSQL runs on this machine (same pid namespace): otherwise the pids name other
# processes or none, and its share is left out (shown as "-").
backends=$(psql "$pg_url" -qtAc "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
  AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
db_args=()
for backend in $backends; do
  [ "$(cat "/proc/$backend/comm" 2>/dev/null)" = postgres ] && db_args+=(--db-pid "$backend")
done
# Rotations against jwtd's own client_credentials: alternating windows, the token first.
cc_beside_lines=() refresh_lines=()
for round in $(seq 1 "$rounds"); do
  cc_beside_lines+=("$(measure cc_pg_beside "client_credentials on jwtd (PostgreSQL), beside refresh window $round of $rounds" \
    "$round_secs" "${cc_jwtd_args[@]}")")
  refresh_lines+=("$(measure refresh_pg "refresh rotation ($users families), window $round of $rounds" "$round_secs" "$pg_pid" \
    "$pg/oauth2/token" --scenario refresh -c "$conns" "${user_args[@]}" "${db_args[@]}")")
done
result[cc_pg_beside]=$(printf '%s\n' "${cc_beside_lines[@]}" | medians)
result[refresh_pg]=$(printf '%s\n' "${refresh_lines[@]}" | medians)
rows+=("cc_pg_beside|client_credentials, beside the refresh windows$median_of|jwtd (PostgreSQL)"
  "refresh_pg|refresh rotation ($users families)$median_of|jwtd (PostgreSQL)")
# What one database round trip costs jwtd (the hand-off to a blocking thread, the pool, the
# driver), at the rate the rotations ran: /readyz is /healthz plus exactly that round trip.
trip_rate=$(awk -v r="$(field "${result[refresh_pg]}" rps)" 'BEGIN { printf "%d", (r > 100) ? r : 100 }')
load healthz_paced "GET /healthz at the refresh rate ($trip_rate/s)" "jwtd (PostgreSQL)" "$pg_pid" "$pg/healthz" -c "$conns" --rate "$trip_rate"
load readyz_paced "GET /readyz (one database round trip) at the refresh rate" "jwtd (PostgreSQL)" "$pg_pid" "$pg/readyz" -c "$conns" --rate "$trip_rate"

# The browser's sign-in (see bench/loadgen/src/browser.rs): every connection a browser with its
# own PKCE verifier, which opens the sign-in page once before its window (not measured).
web_args=(--client-id="$web_id" --client-secret="$web_secret" --redirect-uri="$redirect_uri"
  --password="$password" --users "$users")
# Code-flow cycles (each signed in once before its window: the authorization request with the
# session cookie, then the code redeemed) against raw RS256 signing: a cycle signs an access token
# and an ID token, so half the signing rate bounds it. Alternating windows, the signing rate
# measured right before each.
flow_lines=() flow_bounds=()
for round in $(seq 1 "$rounds"); do
  flow_bounds+=("$(awk -v r="$(field "$(limit_line rs256 "$before_window")" rs256_sign_per_s)" \
    'BEGIN { if (r + 0 > 0) printf "%.1f", r / 2; else print "-" }')")
  flow_lines+=("$(measure code_pg "authorization code flow with a live session, window $round of $rounds" "$round_secs" \
    "$pg_pid" "$pg/oauth2/authorize" --scenario code-flow -c "$conns" "${web_args[@]}" "${db_args[@]}")")
done
result[code_pg]=$(printf '%s\n' "${flow_lines[@]}" | medians)
# client_credentials with private_key_jwt: per token one ES256 verification and one jti insert
# more than with a secret (and the load generator's signature, on the same cores).
load cc_key "client_credentials with private_key_jwt" "jwtd (PostgreSQL)" "$pg_pid" "$pg/oauth2/token" \
  -c "$conns" "${key_args[@]}" "${db_args[@]}"
# Token exchange: per exchange, beside the signature every token costs, one RS256 verification
# (the subject token), the client lookups and one transaction (the subject's refresh family, its
# revocations, the audit event); the users log in before the window (not measured).
load exchange_pg "token exchange (RFC 8693) of user tokens ($users live logins)" "jwtd (PostgreSQL)" "$pg_pid" \
  "$pg/oauth2/token" -c "$conns" "${exchange_args[@]}" "${db_args[@]}"
flow_bound=$(printf 'bound=%s\n' "${flow_bounds[@]}" | medians | sed 's/.*=//')

# Logins against raw argon2id: alternating windows, the ceiling right before each logins window.
login_lines=() argon_rates=()
for round in $(seq 1 "$rounds"); do
  measure_limits argon2id "$(awk -v s="$round_secs" 'BEGIN { print s * 0.6 }')"
  argon_rates+=("$(field "${limits_lines[-1]}" argon2id_hash_per_s)")
  login_lines+=("$(measure login_pg "password grant (login), window $round of $rounds" "$round_secs" "$pg_pid" \
    "$pg/oauth2/token" --scenario login -c "$conns" "${user_args[@]}" "${db_args[@]}")")
done
result[login_pg]=$(printf '%s\n' "${login_lines[@]}" | medians)
rows+=("login_pg|password grant (login)$median_of|jwtd (PostgreSQL)")
argon_rate=$(printf 'argon2id_hash_per_s=%s\n' "${argon_rates[@]}" | medians | sed 's/.*=//')

# The sign-in form posted (POST /login, a new session and a code each) against raw argon2id, as
# the logins above: alternating windows, the hashing rate right before each.
signin_lines=() signin_argon_rates=()
for round in $(seq 1 "$rounds"); do
  signin_argon_rates+=("$(field "$(limit_line argon2id "$before_window")" argon2id_hash_per_s)")
  signin_lines+=("$(measure signin_pg "sign-in form (POST /login), window $round of $rounds" "$round_secs" "$pg_pid" \
    "$pg/oauth2/authorize" --scenario sign-in -c "$conns" "${web_args[@]}" "${db_args[@]}")")
done
result[signin_pg]=$(printf '%s\n' "${signin_lines[@]}" | medians)
signin_argon_rate=$(printf 'argon2id_hash_per_s=%s\n' "${signin_argon_rates[@]}" | medians | sed 's/.*=//')
# Their rows go beside jwtd's client_credentials (the first row), whatever the order they ran in.
rows=("${rows[@]:0:1}" "code_pg|authorization code flow with a live session (cycles: authorize + token)$median_of|jwtd (PostgreSQL)"
  "signin_pg|sign-in form (POST /login)$median_of|jwtd (PostgreSQL)" "${rows[@]:1}")

# The JWKS tail alone and during a login flood: alternating windows; each flood runs from before
# its JWKS window's warm-up until after the window.
alone_lines=() during_lines=() flood_lines=()
flood_secs=$(awk -v s="$round_secs" -v w="$warmup" 'BEGIN { print s + w + 1 }')
jwks_args=("$pg_pid" "$pg/.well-known/jwks.json" -c "$jwks_conns" --rate "$jwks_rate")
for round in $(seq 1 "$rounds"); do
  alone_lines+=("$(measure jwks_paced "JWKS at $jwks_rate/s alone, window $round of $rounds" "$round_secs" "${jwks_args[@]}")")
  "$loadgen" "$pg/oauth2/token" --label flood -d "$flood_secs" --warmup 0 --scenario login -c "$conns" \
    "${user_args[@]}" >"$tmp/flood.out" &
  flood=$!
  helper_pids+=("$flood")
  during_lines+=("$(measure jwks_flood "JWKS at $jwks_rate/s during a password-grant flood, window $round of $rounds" \
    "$round_secs" "${jwks_args[@]}")")
  wait "$flood"
  flood_lines+=("$(cat "$tmp/flood.out")")
done
result[jwks_paced]=$(printf '%s\n' "${alone_lines[@]}" | medians)
result[jwks_flood]=$(printf '%s\n' "${during_lines[@]}" | medians)
result[flood]=$(printf '%s\n' "${flood_lines[@]}" | medians)
rows+=("jwks_paced|JWKS at $jwks_rate/s, alone$median_of|jwtd (PostgreSQL)"
  "jwks_flood|JWKS at $jwks_rate/s, during a login flood$median_of|jwtd (PostgreSQL)"
  "flood|password grant (the flood itself)$median_of|jwtd (PostgreSQL)")

limits_line=${limits_lines[0]}
sign_rate=$(best_limit rs256_sign_per_s)
verify_rate=$(best_limit rs256_verify_per_s)
limits_seen=$(for line in "${limits_lines[@]}"; do
  printf '%s/%s/%s; ' "$(field "$line" rs256_sign_per_s)" "$(field "$line" rs256_verify_per_s)" "$(field "$line" argon2id_hash_per_s)"
done)

# --- report ------------------------------------------------------------------------------
num() { field "${result[$1]:-}" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.2f", a / b; else print "-" }'; }
verdict() { # VALUE OP TARGET
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (v == "-") { print "n/a"; exit }
    ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0); print ok ? "PASS" : "MISS" }'
}
cpu_ms() { [ "$1" = - ] && echo - || echo "$1 ms"; }
# "A + B + …", each a CPU time per request in ms, all on this machine's cores: the most requests
# per second those cores allow ("-" when a part is unknown).
cores_allow() {
  awk -v n="$(nproc)" -v p="$1" 'BEGIN { k = split(p, x, " [+] "); t = 0
    for (i = 1; i <= k; i++) { if (x[i] !~ /^[0-9.]+$/) { print "-"; exit } t += x[i] }
    if (t > 0) printf "%.1f", n * 1000 / t; else print "-" }'
}
mib() { awk -v k="$1" 'BEGIN { if (k == "-" || k == 0) print "-"; else printf "%.1f MiB", k / 1024 }'; }
peak_of() { # the highest sampled RSS over the given result keys
  local key max=0 v
  for key in "$@"; do
    v=$(num "$key" peak_rss_kib)
    [ "$v" != "-" ] && [ "$v" -gt "$max" ] && max=$v
  done
  echo "$max"
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
  if [ "$quick" = 1 ]; then
    echo "# jwtd benchmark (--quick smoke run: debug build, ~1 s per scenario; numbers mean nothing)"
  else
    echo "# jwtd benchmark results"
  fi
  echo
  echo "Generated by \`bench/run.sh$([ "$quick" = 1 ] && echo ' --quick')\` (see bench/README.md for method)."
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) cores, ${cpu:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)$(grep -qw avx512ifma /proc/cpuinfo && echo ', AVX-512 IFMA (fast RSA in aws-lc and OpenSSL alike)')"
  echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared)"
  echo "- jwtd: $profile build, git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- src 2>/dev/null || echo ' + uncommitted src changes'); PostgreSQL $(psql "$pg_admin" -qtAc 'SHOW server_version' 2>/dev/null | cut -d' ' -f1); node $(node --version 2>/dev/null || echo '-')"
  # The peers' dependencies below their pinned top level float with each npm install: name them.
  if [ "$peers" = 1 ]; then echo "- peers: $( (cd "$peers_dir" && npm ls --all --parseable --long 2>/dev/null) |
    sed -n 's/^[^:]*:\(\(oidc-provider\|jose\|koa\|express\|jsonwebtoken\)@[^:]*\)\(:.*\)\?$/\1/p' | sort -u | paste -sd' ' -)"; fi
  echo "- load: one jwtd-loadgen thread, $conns keep-alive connections (closed loop) unless paced, ${warmup} s warm-up, ${secs} s measured"
  echo
  echo "| scenario | server | req/s | p50 | p99 | peak RSS | server CPU/req | PostgreSQL CPU/req | load generator CPU/req | errors |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for row in "${rows[@]}"; do
    IFS='|' read -r key scenario server <<<"$row"
    printf '| %s | %s | %s | %s ms | %s ms | %s | %s | %s | %s | %s |\n' "$scenario" "$server" "$(num "$key" rps)" \
      "$(num "$key" p50_ms)" "$(num "$key" p99_ms)" "$(mib "$(num "$key" peak_rss_kib)")" \
      "$(cpu_ms "$(num "$key" server_cpu_ms_per_req)")" "$(cpu_ms "$(num "$key" db_cpu_ms_per_req)")" \
      "$(cpu_ms "$(num "$key" client_cpu_ms_per_req)")" "$(num "$key" errors)"
  done
  echo
  echo "CPU/req: CPU time of the server process (with its workers), of the PostgreSQL backends serving it or of the"
  echo "load generator (which shares the cores), in the measured window, per successful request (from /proc, 10 ms ticks)."
  echo
  echo "Raw limits on all $(field "$limits_line" threads) cores (jwtd-limits, no HTTP, no database):"
  echo "RS256 sign $sign_rate/s and verify $verify_rate/s (aws-lc-rs, 2048-bit, $(field "$limits_line" message_len)-byte message);"
  echo "argon2id hash $argon_rate/s (argon2 0.6, m=19456 KiB, t=2, p=1)."
  echo "RS256: the higher of two measurements, right before and after the client_credentials scenarios; argon2id: the"
  echo "median of $rounds, each right before a logins window (sign/verify/hash, in order: ${limits_seen% })."
  if [ "$rounds" -gt 1 ]; then
    echo
    echo "Alternating windows of $round_secs s, in order (their medians are the rows above; each ratio below is the"
    echo "median of its pairs' ratios):"
    [ "$peers" = 1 ] && echo "client_credentials req/s, jwtd (PostgreSQL) / oidc-provider: $(windows_of rps cc_jwtd_lines cc_oidc_lines);"
    echo "refresh rotations/s / client_credentials req/s, jwtd (PostgreSQL): $(windows_of rps refresh_lines cc_beside_lines);"
    echo "logins/s / raw argon2id/s: $(for i in "${!login_lines[@]}"; do printf '%s/%s, ' "$(field "${login_lines[$i]}" rps)" "${argon_rates[$i]}"; done | sed 's/, $//');"
    echo "code-flow cycles/s / raw RS256 signs/s ÷ 2: $(for i in "${!flow_lines[@]}"; do printf '%s/%s, ' "$(field "${flow_lines[$i]}" rps)" "${flow_bounds[$i]}"; done | sed 's/, $//');"
    echo "sign-in form posts/s / raw argon2id/s: $(for i in "${!signin_lines[@]}"; do printf '%s/%s, ' "$(field "${signin_lines[$i]}" rps)" "${signin_argon_rates[$i]}"; done | sed 's/, $//');"
    echo "JWKS p99 during the flood / alone (ms): $(windows_of p99_ms during_lines alone_lines)."
  fi
  echo
  echo "| target | measured | ratio | goal | result |"
  echo "| --- | --- | ---: | ---: | --- |"
  target() { # NAME MEASURED RATIO OP GOAL [CEILING: the most this machine allows, a ratio]
    local result
    result=$(verdict "$3" "$4" "$5")
    # A miss whose ceiling (computed below the table from this run's CPU times) is under the
    # goal cannot be met on this machine: said so, with the ceiling.
    if [ "$result" = MISS ] && [ "$4" = ">=" ] && [ -n "${6:-}" ] &&
      awk -v c="$6" -v g="$5" 'BEGIN { exit !(c ~ /^[0-9.]+$/ && c + 0 < g + 0) }'; then
      result="MISS, out of reach here (ceiling $6, below)"
    fi
    [ "$quick" = 1 ] && result="($result, not judged)"
    printf '| %s | %s | %s | %s %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$result"
  }
  bounded() { # NAME MEASURED RATIO: a ratio to the ceiling, with no goal to judge
    printf '| %s | %s | %s | - | %s |\n' "$1" "$2" "$3" "$([ "$quick" = 1 ] && echo '(not judged)' || echo 'no goal')"
  }
  cc=$(num cc_pg rps)
  paired=
  [ "$rounds" -gt 1 ] && paired=" (median of $rounds paired windows' ratios)"
  if [ "$peers" = 1 ]; then
    # Every token costs at least one RS256 signature, and every request the load generator's own
    # CPU on the same cores: no server here can issue more tokens per second than
    # cores / (one signature's CPU + the load generator's CPU per request).
    sig_ms=$(awk -v n="$(nproc)" -v r="$sign_rate" 'BEGIN { if (r + 0 > 0) printf "%.4f", n * 1000 / r; else print "-" }')
    cc_client=$(num cc_pg client_cpu_ms_per_req)
    cc_max=$(awk -v n="$(nproc)" -v s="$sig_ms" -v c="$cc_client" \
      'BEGIN { if (s == "-" || c == "-") print "-"; else printf "%.1f", n * 1000 / (s + c) }')
    cc_bound=$(ratio "$cc_max" "$(num cc_oidc rps)")
    target "client_credentials vs oidc-provider$paired" "$cc vs $(num cc_oidc rps) req/s" \
      "$(paired_median "$(fields rps "${cc_jwtd_lines[@]}")" "$(fields rps "${cc_oidc_lines[@]}")")" ">=" 2.0 "$cc_bound"
    target "client_credentials vs express-design" "$cc vs $(num cc_express rps) req/s" "$(ratio "$cc" "$(num cc_express rps)")" ">=" 4.0
  fi
  target "client_credentials vs raw RS256 signing" "$cc vs $sign_rate /s" "$(ratio "$cc" "$sign_rate")" ">=" 0.75
  if [ "$peers" = 1 ]; then
    target "JWKS vs oidc-provider's JWKS" "$(num jwks_pg rps) vs $(num jwks_oidc rps) req/s" \
      "$(ratio "$(num jwks_pg rps)" "$(num jwks_oidc rps)")" ">=" 3.0
  fi
  # What this machine allows at most: a rotation costs at least what a client_credentials token
  # costs jwtd (HTTP, signing), one database round trip in jwtd (the hand-off to a blocking
  # thread, the pool, the driver: /readyz minus /healthz at the same rate), PostgreSQL's CPU for
  # the statement and the load generator's own CPU per refresh request, all on the same cores.
  # The token from the windows paired with the rotations'.
  cc_beside=$(num cc_pg_beside rps) cc_beside_cpu=$(num cc_pg_beside server_cpu_ms_per_req)
  trip=$(awk -v r="$(num readyz_paced server_cpu_ms_per_req)" -v h="$(num healthz_paced server_cpu_ms_per_req)" \
    'BEGIN { if (r == "-" || h == "-" || r == "" || h == "") print "-"; else printf "%.4f", (r > h) ? r - h : 0 }')
  rotation_parts="$cc_beside_cpu + $trip + $(num refresh_pg db_cpu_ms_per_req) + $(num refresh_pg client_cpu_ms_per_req)"
  rotations_max=$(cores_allow "$rotation_parts")
  refresh_bound="at most $(nproc) cores / (jwtd's CPU per client_credentials token + jwtd's CPU for one database round trip + PostgreSQL's CPU per rotation + the load generator's CPU per rotation: $rotation_parts ms) = $rotations_max rotations/s, $(ratio "$rotations_max" "$cc_beside") of the client_credentials windows beside them ($cc_beside/s)"
  target "refresh rotations vs own client_credentials (PostgreSQL)$paired" "$(num refresh_pg rps) vs $cc_beside /s" \
    "$(paired_median "$(fields rps "${refresh_lines[@]}")" "$(fields rps "${cc_beside_lines[@]}")")" ">=" 0.60 "$(ratio "$rotations_max" "$cc_beside")"
  # With PostgreSQL on a host of its own (production), only jwtd's CPU counts.
  refresh_own="$(ratio "$cc_beside_cpu" "$(num refresh_pg server_cpu_ms_per_req)") (jwtd's CPU per client_credentials token / per rotation: $cc_beside_cpu / $(num refresh_pg server_cpu_ms_per_req) ms)"
  target "password logins vs raw argon2id$paired" "$(num login_pg rps) vs $argon_rate /s" \
    "$(paired_median "$(fields rps "${login_lines[@]}")" "${argon_rates[*]}")" ">=" 0.85
  # The browser's sign-in against what bounds it, reported without a goal.
  bounded "code flow cycles vs raw RS256 signs/2$paired" "$(num code_pg rps) vs $flow_bound /s" \
    "$(paired_median "$(fields rps "${flow_lines[@]}")" "${flow_bounds[*]}")"
  bounded "sign-in form posts vs raw argon2id$paired" "$(num signin_pg rps) vs $signin_argon_rate /s" \
    "$(paired_median "$(fields rps "${signin_lines[@]}")" "${signin_argon_rates[*]}")"
  bounded "client_credentials with private_key_jwt vs with a secret (PostgreSQL)" \
    "$(num cc_key rps) vs $(num cc_pg rps) /s" "$(ratio "$(num cc_key rps)" "$(num cc_pg rps)")"
  bounded "token exchange vs client_credentials (PostgreSQL)" \
    "$(num exchange_pg rps) vs $(num cc_pg rps) /s" "$(ratio "$(num exchange_pg rps)" "$(num cc_pg rps)")"
  target "JWKS p99 during login flood vs alone$paired" "$(num jwks_flood p99_ms) vs $(num jwks_paced p99_ms) ms" \
    "$(paired_median "$(fields p99_ms "${during_lines[@]}")" "$(fields p99_ms "${alone_lines[@]}")")" "<=" 3.0
  if [ "$peers" = 1 ]; then
    jwtd_peak=$(peak_of cc_pg cc_pg_beside jwks_pg jwks_pg_304 refresh_pg login_pg code_pg cc_key exchange_pg signin_pg jwks_paced jwks_flood)
    oidc_peak=$(peak_of cc_oidc jwks_oidc)
    target "jwtd peak RSS (any load) vs oidc-provider's (all workers)" "$(mib "$jwtd_peak") vs $(mib "$oidc_peak")" \
      "$(ratio "$jwtd_peak" "$oidc_peak")" "<=" 0.5
  fi
  echo
  if [ "$peers" = 1 ]; then
    echo "client_credentials vs oidc-provider on this machine: a server whose only cost were the RS256 signature would issue at most $(nproc) cores / (one signature's CPU, $(nproc) cores / raw signing rate, + the load generator's CPU per request: $sig_ms + $cc_client ms) = $cc_max tokens/s, ${cc_bound}x oidc-provider's $(num cc_oidc rps)/s; jwtd spends $(num cc_pg server_cpu_ms_per_req) ms per token."
  fi
  echo "Refresh rotations on this machine, with PostgreSQL on the same cores: $refresh_bound."
  echo "With PostgreSQL on a host of its own, jwtd's cores would rotate at $refresh_own of their client_credentials rate."
  # Two signatures' CPU at the rate measured beside the code-flow windows, against what a cycle cost.
  flow_sigs=$(awk -v n="$(nproc)" -v b="$flow_bound" 'BEGIN { if (b + 0 > 0) printf "%.4f", n * 1000 / b; else print "-" }')
  echo "Code flow: each cycle signs an access token and an ID token, so at most raw signing / 2 = $flow_bound cycles/s; it ran at $(num code_pg rps)/s. Per cycle jwtd spent $(cpu_ms "$(num code_pg server_cpu_ms_per_req)") of CPU (the two signatures alone: $flow_sigs ms), PostgreSQL $(cpu_ms "$(num code_pg db_cpu_ms_per_req)"), the load generator $(cpu_ms "$(num code_pg client_cpu_ms_per_req)")."
  echo "client_credentials with private_key_jwt: per token jwtd spent $(cpu_ms "$(num cc_key server_cpu_ms_per_req)") of CPU (with a secret: $(cpu_ms "$(num cc_pg server_cpu_ms_per_req)"); the difference is the ES256 verification and the assertion's parsing), PostgreSQL $(cpu_ms "$(num cc_key db_cpu_ms_per_req)") (the jti insert; a secret's token writes nothing), the load generator $(cpu_ms "$(num cc_key client_cpu_ms_per_req)") (signing the assertion); at most $(nproc) cores / their sum per token on this machine."
  # What an exchange costs on these cores, every consumer counted (PostgreSQL and the load
  # generator share them): the most this machine allows.
  exchange_parts="$(num exchange_pg server_cpu_ms_per_req) + $(num exchange_pg db_cpu_ms_per_req) + $(num exchange_pg client_cpu_ms_per_req)"
  exchange_max=$(cores_allow "$exchange_parts")
  echo "Token exchange: per exchange jwtd spent $(cpu_ms "$(num exchange_pg server_cpu_ms_per_req)") of CPU (a client_credentials token: $(cpu_ms "$(num cc_pg server_cpu_ms_per_req)"); the difference is the subject token's RS256 verification, the client lookups and the transaction's round trip), PostgreSQL $(cpu_ms "$(num exchange_pg db_cpu_ms_per_req)") (the refresh family read, the revocation lookup and the audit insert; a client_credentials token writes nothing), the load generator $(cpu_ms "$(num exchange_pg client_cpu_ms_per_req)"); at most $(nproc) cores / their sum ($exchange_parts ms) = $exchange_max exchanges/s on this machine, and it ran at $(num exchange_pg rps)/s."
  [ "$peers" = 1 ] || { echo; echo "The peers were skipped (no node/npm, or their install failed)."; }
  # Notes written by people (profiles, recommendations) survive a re-run.
  if [ "$quick" != 1 ] && [ -f "$out" ] && grep -q '^<!-- notes -->' "$out"; then
    echo
    sed -n '/^<!-- notes -->/,$p' "$out"
  fi
} >"$tmp/results.md"
cp "$tmp/results.md" "$out"
cat "$out"
log "written to $out"
# Every scenario that got here answered without errors (a failing one stops the run above).
[ "$quick" = 1 ] && echo "bench: ${#rows[@]} passed, 0 failed"
exit 0
