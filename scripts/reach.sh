#!/usr/bin/env bash
# reach.sh: the revocation figures of docs/revocation.md, reproduced on this
# machine. Every server binds 127.0.0.1; everything started here is stopped,
# and the database it creates dropped, on exit.
#
#   (a) reach: two issuer replicas on one Postgres database, the two demo
#       resource servers as separate processes following the feed, and
#       signet-load verifying tokens at them (REACH_RATE requests a second,
#       default 200) while it signs out REACH_SIGNOUTS sessions (default
#       300) round-robin through both replicas: for each, the time from the
#       sign-out's 204 to the first 401 (kind revoked) at each server; p50
#       and p99. Its own feed follower (replica 1, failing over to 0) gives
#       the issuer-side time as well.
#   (b) an idle verifier's cost: 100 real verifiers (package verifier)
#       follow replica 0's feed for REACH_WINDOW seconds (default 60), once
#       with the default 10 s HTTP client (an 8 s long-poll) and once with a
#       27 s client (the longest long-poll, 25 s): requests and wire bytes
#       per verifier and minute;
#   (c) the issuer's CPU for those followers: replica 0's CPU time (from
#       /proc) over the same windows, less its idle CPU over a window
#       without followers, scaled to 1,000 verifiers;
#   (d) Verify with 100,000 revoked sessions against none
#       (BenchmarkVerifyRevocations), the ratio and the heap per entry.
#
# Needs: go, psql, pg_isready, curl, python3, and a Postgres on
# 127.0.0.1:5432 whose "postgres" role may create databases.
# Knobs: REACH_SIGNOUTS, REACH_RATE, REACH_WINDOW, REACH_FOLLOWERS (100),
# REACH_SKIP_BENCH=1. For resource servers that take tokens for their own
# resource, give the signet-load targets: REACH_SHOP_TARGET and
# REACH_VIDEO_TARGET ("URL,path=P,resource=R,scope=S", see signet-load
# --help), and the servers' audiences: REACH_SHOP_AUDIENCE,
# REACH_VIDEO_AUDIENCE (default shop-api, video-api); REACH_SETUP runs a
# command (e.g. one that registers the resources with "signet resources")
# after the migration, with the issuer's environment.
set -euo pipefail
cd "$(dirname "$0")/.."

SIGNOUTS="${REACH_SIGNOUTS:-300}"
RATE="${REACH_RATE:-200}"
WINDOW="${REACH_WINDOW:-60}"
FOLLOWERS="${REACH_FOLLOWERS:-100}"
PG_HOST=127.0.0.1
PG_PORT=5432
PG_ADMIN_URL="postgres://postgres@$PG_HOST:$PG_PORT/postgres?sslmode=disable"
DB="signet_reach_$$"
DB_URL="postgres://postgres@$PG_HOST:$PG_PORT/$DB?sslmode=disable"
ISSUER_PORTS=(18480 18481)
SHOP_PORT=18581
VIDEO_PORT=18582
ISSUER_URL="http://127.0.0.1:${ISSUER_PORTS[0]}"
SHOP_TARGET="${REACH_SHOP_TARGET:-http://127.0.0.1:$SHOP_PORT,path=/api/me}"
VIDEO_TARGET="${REACH_VIDEO_TARGET:-http://127.0.0.1:$VIDEO_PORT,path=/api/me}"

for v in "$SIGNOUTS" "$RATE" "$WINDOW" "$FOLLOWERS"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "reach: REACH_* must be whole numbers" >&2; exit 2; }
done
((SIGNOUTS >= 1 && SIGNOUTS <= 10000 && WINDOW >= 10 && WINDOW <= 600 && FOLLOWERS >= 1 && FOLLOWERS <= 1000 && RATE >= 1 && RATE <= 5000)) ||
  { echo "reach: REACH_SIGNOUTS 1-10000, REACH_WINDOW 10-600, REACH_FOLLOWERS 1-1000, REACH_RATE 1-5000" >&2; exit 2; }
for tool in go psql pg_isready curl python3; do
  command -v "$tool" >/dev/null || { echo "reach: $tool is required" >&2; exit 2; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/signet-reach.XXXXXX")"
BIN="$WORK/bin"
LOGS="$WORK/logs"
mkdir -p "$BIN" "$LOGS"
log() { printf '%s reach: %s\n' "$(date +%T)" "$*" >&2; }

# shellcheck source=scripts/lib.sh
. scripts/lib.sh # (the repository root is the working directory) now_ms, http_status, wait_ok, port_free, stop_pids

declare -A PIDS=()
DB_CREATED=0
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_pids
  if ((DB_CREATED)); then
    psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || echo "reach: could not drop database $DB" >&2
  fi
  if ((status == 0)) && [ -z "${REACH_KEEP:-}" ]; then rm -rf "$WORK"; else echo "reach: logs kept in $WORK" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# cpu_ticks PID: user + system CPU time in clock ticks (1/100 s).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }

log "building into $BIN"
go build -o "$BIN/" ./cmd/signet ./cmd/shop-api ./cmd/video-api ./cmd/signet-load

pg_isready -h "$PG_HOST" -p "$PG_PORT" -q || { echo "reach: no Postgres on $PG_HOST:$PG_PORT" >&2; exit 2; }
for port in "${ISSUER_PORTS[@]}" "$SHOP_PORT" "$VIDEO_PORT"; do
  port_free "$port" || { echo "reach: port $port is in use" >&2; exit 2; }
done
psql "$PG_ADMIN_URL" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $DB" >/dev/null
DB_CREATED=1

export SIGNET_DATABASE_URL="$DB_URL"
SIGNET_KEY_ENCRYPTION_KEY="$(head -c32 /dev/urandom | base64)"
export SIGNET_KEY_ENCRYPTION_KEY
export SIGNET_ISSUER_URL="$ISSUER_URL"
export SIGNET_AUDIENCE="${REACH_AUDIENCE:-shop-api,video-api}"
export SIGNET_BCRYPT_COST=4
export SIGNET_LOG_FORMAT=text
export SIGNET_LOG_LEVEL=warn
export SIGNET_SIGNUP_LIMIT=off
export SIGNET_REFRESH_FAILURE_LIMIT=off
export SIGNET_SIGNUP_MODE=open
export SIGNET_REQUIRE_VERIFIED_EMAIL=false
export SIGNET_DATA_DIR="$WORK/data"
"$BIN/signet" migrate up >"$LOGS/migrate.log" 2>&1 || { cat "$LOGS/migrate.log" >&2; exit 1; }
if [ -n "${REACH_SETUP:-}" ]; then bash -c "$REACH_SETUP" >"$LOGS/setup.log" 2>&1 || { cat "$LOGS/setup.log" >&2; exit 1; }; fi

log "starting issuers on ${ISSUER_PORTS[*]}, resource servers on $SHOP_PORT, $VIDEO_PORT"
for i in 0 1; do
  SIGNET_ADDR="127.0.0.1:${ISSUER_PORTS[$i]}" "$BIN/signet" serve >>"$LOGS/issuer$i.log" 2>&1 &
  PIDS[issuer$i]=$!
done
for port in "${ISSUER_PORTS[@]}"; do wait_ok "http://127.0.0.1:$port/readyz" 30; done
ADDR="127.0.0.1:$SHOP_PORT" ISSUER_URL="$ISSUER_URL" AUDIENCE="${REACH_SHOP_AUDIENCE:-shop-api}" KEY_FILE="$WORK/shop-api.key" "$BIN/shop-api" >"$LOGS/shop-api.log" 2>&1 &
PIDS[shop]=$!
ADDR="127.0.0.1:$VIDEO_PORT" ISSUER_URL="$ISSUER_URL" AUDIENCE="${REACH_VIDEO_AUDIENCE:-video-api}" "$BIN/video-api" >"$LOGS/video-api.log" 2>&1 &
PIDS[video]=$!
wait_ok "http://127.0.0.1:$SHOP_PORT/healthz" 30
wait_ok "http://127.0.0.1:$VIDEO_PORT/healthz" 30

# (a) Reach under verify load. The load workers start with the sign-outs;
# the first few sign-outs also wait for the servers' first JWKS fetch.
log "(a) $SIGNOUTS sign-outs under $RATE verifications a second"
LOAD_RC=0
"$BIN/signet-load" \
  --issuer "http://127.0.0.1:${ISSUER_PORTS[0]}" --issuer "http://127.0.0.1:${ISSUER_PORTS[1]}" \
  --target "$SHOP_TARGET" --target "$VIDEO_TARGET" \
  --rate "$RATE" --concurrency 8 --mix "refresh=1,api=40" --duration 600s --warmup 2s \
  --signouts "$SIGNOUTS" --signout-workers 2 --reach-timeout 10s \
  --feed-issuer "http://127.0.0.1:${ISSUER_PORTS[1]}" --feed-issuer "http://127.0.0.1:${ISSUER_PORTS[0]}" \
  --fail-on-verify-errors --progress=false --json >"$WORK/reach.json" 2>"$LOGS/load.log" || LOAD_RC=$?
if ((LOAD_RC != 0)); then
  echo "reach: signet-load exited $LOAD_RC" >&2
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["threshold_violations"])' "$WORK/reach.json" >&2 || tail -n 20 "$LOGS/load.log" >&2
  exit 1
fi

# (b, c) Idle verifiers against replica 0, now without load.
IDLE_PID="${PIDS[issuer0]}"
log "(c) replica 0 idle CPU over ${WINDOW}s"
sleep 3
T0="$(cpu_ticks "$IDLE_PID")"
sleep "$WINDOW"
IDLE_TICKS=$(($(cpu_ticks "$IDLE_PID") - T0))
for timeout in 10s 27s; do
  log "(b, c) $FOLLOWERS idle verifiers, ${timeout} HTTP client, ${WINDOW}s"
  "$BIN/signet-load" --issuer "$ISSUER_URL" --followers "$FOLLOWERS" --follower-timeout "$timeout" \
    --duration "${WINDOW}s" --cpu-pid "$IDLE_PID" --json >"$WORK/followers-$timeout.json" 2>>"$LOGS/followers.log"
done

# (d) The verifier benchmark.
BENCH=""
if [ -z "${REACH_SKIP_BENCH:-}" ]; then
  log "(d) BenchmarkVerifyRevocations"
  go test ./verifier -run '^$' -bench 'BenchmarkVerifyRevocations' -benchmem -count 5 >"$WORK/bench.txt"
  BENCH="$WORK/bench.txt"
fi

python3 - "$WORK" "$IDLE_TICKS" "$WINDOW" "$BENCH" <<'PY'
import json, re, statistics, sys
work, idle_ticks, window, bench = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
r = json.load(open(f"{work}/reach.json"))
s = r["signouts"]
print(f"(a) sign-out reach: {s['measured']} of {s['requested']} sign-outs measured, {s['not_reached']} not reached in {s['reach_timeout_seconds']:g} s, "
      f"{s['wrong_kind']} refused otherwise; load {r['per_second']:.0f} requests/s ({r['operations']['api']['per_second']:.0f} verifications/s), "
      f"{r['verification_failures_other']} unexpected refusals")
for name, l in sorted(s["reach_ms"].items()):
    print(f"    {name}: p50 {l['p50']:.1f} ms, p99 {l['p99']:.1f} ms, max {l['max']:.1f} ms")
l = s["slowest_target_ms"]
print(f"    both servers (the later of the two): p50 {l['p50']:.1f} ms, p99 {l['p99']:.1f} ms, max {l['max']:.1f} ms")
f = s.get("feed")
if f:
    print(f"    feed follower (issuer side): p50 {f['reach_ms']['p50']:.1f} ms, p99 {f['reach_ms']['p99']:.1f} ms, missed {f['missed']}")
idle_pct = idle_ticks / window  # ticks are 1/100 s: percent of a core
print(f"(c) replica 0 idle: {idle_pct:.2f}% of a core")
for t in ("10s", "27s"):
    fr = json.load(open(f"{work}/followers-{t}.json"))
    net = fr["cpu_percent"] - idle_pct
    print(f"(b) {fr['followers']} idle verifiers, {fr['client_timeout_seconds']:g} s client: "
          f"{fr['requests_per_follower_minute']:.2f} requests and {fr['bytes_per_follower_minute']:.0f} bytes per verifier and minute "
          f"({fr['feed_requests']} feed, {fr['other_requests']} other requests, {fr['fetch_errors']} errors in {fr['window_seconds']:.0f} s)")
    print(f"(c)   replica 0 CPU: {fr['cpu_percent']:.2f}% of a core, {net:.2f}% above idle: "
          f"{net * 1000 / fr['followers']:.1f}% of a core per 1,000 verifiers")
if bench:
    times, heap = {}, {}
    for line in open(bench):
        m = re.match(r"BenchmarkVerifyRevocations/(\d+)-\d+\s+\d+\s+([\d.]+) ns/op(.*)", line)
        if m:
            times.setdefault(m[1], []).append(float(m[2]))
            h = re.search(r"([\d.]+) heap-bytes/entry", m[3])
            if h:
                heap.setdefault(m[1], []).append(float(h[1]))
    t0, t1 = statistics.median(times["0"]), statistics.median(times["100000"])
    print(f"(d) Verify (EdDSA): {t0 / 1000:.1f} µs with no revoked entry, {t1 / 1000:.1f} µs with 100,000 (ratio {t1 / t0:.3f}, medians of 5); "
          f"{statistics.median(heap['100000']):.0f} heap bytes per entry")
PY
