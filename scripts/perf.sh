#!/usr/bin/env bash
# perf.sh: the performance figures of docs/performance.md, reproduced on this machine.
#
# Builds signet and signet-load, runs one issuer on a fresh Postgres database
# on 127.0.0.1 and measures, PERF_RUNS times each (default 3), printing the
# median of every figure:
#   1. refresh: 32 concurrent sessions refreshing as fast as they can; SQL
#      round trips per refresh from Postgres's own transaction counter;
#      refreshes per spending statement (concurrent refreshes share one on
#      Postgres) from the issuer's /metrics;
#      interleaved with each run, the bare limit on the same Postgres:
#      pgbench at the same concurrency running the refresh's one rotation
#      statement (prepared) on copies of the sessions and users tables, and
#      the ratio; CPU per refresh for the issuer, for the load client
#      (signet-load), for Postgres (the backends of this run's database,
#      sampled from /proc) and for the rest of the machine (other work
#      sharing it), and the same for pgbench; the machine's load average;
#      and the ratio the CPU figures predict if the issuer's own CPU were
#      elsewhere (see docs/performance.md);
#   2. JWKS: 32 concurrent fetchers, full 200 responses, then If-None-Match,
#      then the same with wrk (a lighter client) when it is installed;
#   3. bcrypt alone at cost 12 (go test -bench), hence the ceiling of
#      sign-ins per second: GOMAXPROCS / t_bcrypt;
#   4. sign-in throughput at cost 12;
#   5. a sign-in storm at 4x that ceiling during the refresh load of (1).
# The issuer uses bcrypt cost 4 for (1) and (2), where bcrypt plays no part,
# and 12 (the default) for (4) and (5). The load client shares the machine,
# so figures are what one box does with client and server on it.
#
# Needs: go, psql, curl, python3, and a Postgres on 127.0.0.1:5432 whose
# "postgres" role may create databases (PERF_PG_ADMIN_URL to change it).
# Needs pgbench for the bare limit of (1), and Postgres on this machine for
# its CPU figures (its backends are read from /proc).
# Knobs: PERF_RUNS (3), PERF_DURATION seconds per run (15), PERF_PORT (18380),
# PERF_FILLER_SESSIONS (100000 other sessions in the database, so that
# both sides of (1) run on a table of a real size), PERF_ONLY_REFRESH=1 to
# stop after (1).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${PERF_RUNS:-3}"
DUR="${PERF_DURATION:-15}"
PORT="${PERF_PORT:-18380}"
PG_ADMIN_URL="${PERF_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
DB="signet_perf_$$"
DB_URL="${PG_ADMIN_URL%%/postgres\?*}/$DB?sslmode=disable"
ISSUER="http://127.0.0.1:$PORT"

for tool in go psql curl python3 pgbench; do
  command -v "$tool" >/dev/null || { echo "perf: $tool is required" >&2; exit 2; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/signet-perf.XXXXXX")"
BIN="$WORK/bin"
mkdir -p "$BIN"
ISSUER_PID=""
PG_CPU_PID=""
DB_CREATED=0

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_issuer
  [ -z "$PG_CPU_PID" ] || pg_cpu_stop
  if ((DB_CREATED)); then
    psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if ((status == 0)) && [ -z "${PERF_KEEP:-}" ]; then rm -rf "$WORK"; else echo "perf: reports kept in $WORK" >&2; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '%s perf: %s\n' "$(date +%T)" "$*" >&2; }

start_issuer() { # start_issuer BCRYPT_COST
  SIGNET_ADDR="127.0.0.1:$PORT" SIGNET_BCRYPT_COST="$1" "$BIN/signet" serve >>"$WORK/issuer.log" 2>&1 &
  ISSUER_PID=$!
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$ISSUER/readyz" 2>/dev/null || true)" = 200 ] && return 0
    sleep 0.1
  done
  echo "perf: the issuer did not become ready; its log ends:" >&2
  tail -n 20 "$WORK/issuer.log" >&2
  exit 1
}

stop_issuer() {
  [ -n "$ISSUER_PID" ] || return 0
  kill -TERM "$ISSUER_PID" 2>/dev/null || true
  wait "$ISSUER_PID" 2>/dev/null || true
  ISSUER_PID=""
}

load() { # load OUT ARGS...: one signet-load run, JSON report in OUT,
  # and the CPU seconds it used (user + system) in OUT.cpu
  local out="$1" TIMEFORMAT='%U %S' status=0
  shift
  { time "$BIN/signet-load" --issuer "$ISSUER" --progress=false --json "$@" >"$out" 2>>"$WORK/load.log" || status=$?; } 2>"$out.time"
  if ((status != 0)); then
    echo "perf: signet-load failed; see $WORK/load.log" >&2
    exit 1
  fi
  awk '{ print $1 + $2 }' "$out.time" >"$out.cpu"
}

# machine_cpu prints the CPU seconds the whole machine has spent busy so
# far (every core, from /proc/stat: all but idle and iowait).
machine_cpu() {
  awk -v tick="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8 + $9) / tick }' /proc/stat
}

# commits prints the transactions committed in the database so far. Every
# statement the issuer runs outside a transaction commits one, so the
# difference over a run counts SQL round trips (the statistics are flushed
# about once a second, hence the pause).
commits() {
  sleep 1.5
  psql "$DB_URL" -qAtc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}

# report FILE... prints the medians over the runs' reports.
median_report() {
  python3 - "$@" <<'PY'
import json, statistics, sys
args = sys.argv[1:]
title, op, files = args[0], args[1], args[2:]
reps = [json.load(open(f)) for f in files]
def med(f):
    return statistics.median(f(r) for r in reps)
o = lambda r: r["operations"][op]
ok = lambda r: o(r)["ok"] / max(r["elapsed_seconds"], 1e-9)
rate = lambda v: ("%.0f" if v >= 100 else "%.2f") % v
print(f"{title}: {rate(med(ok))}/s ok (of {rate(med(lambda r: o(r)['per_second']))}/s sent), "
      f"p50 {med(lambda r: o(r)['latency_ms']['p50']):.2f} ms, p95 {med(lambda r: o(r)['latency_ms']['p95']):.2f} ms, "
      f"p99 {med(lambda r: o(r)['latency_ms']['p99']):.2f} ms, errors {med(lambda r: o(r)['failed']):.0f}  "
      f"(per run: {', '.join('%s/s ok, p99 %.1f ms' % (rate(ok(r)), o(r)['latency_ms']['p99']) for r in reps)})")
PY
}

log "building into $BIN"
go build -o "$BIN/" ./cmd/signet ./cmd/signet-load

log "creating database $DB"
psql "$PG_ADMIN_URL" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $DB" >/dev/null
DB_CREATED=1
export SIGNET_DATABASE_URL="$DB_URL"
SIGNET_KEY_ENCRYPTION_KEY="$(head -c32 /dev/urandom | base64)"
export SIGNET_KEY_ENCRYPTION_KEY
export SIGNET_ISSUER_URL="$ISSUER"
# The load comes from one address: lift the per-address sign-up and
# refresh-failure limits, which would otherwise be what is measured.
export SIGNET_SIGNUP_LIMIT=off
export SIGNET_REFRESH_FAILURE_LIMIT=off
# Simulated users sign up and sign in at once: open sign-up, no
# confirmation (the account lifecycle has its own tests).
export SIGNET_SIGNUP_MODE=open
export SIGNET_REQUIRE_VERIFIED_EMAIL=false
# Their confirmation messages go to .eml files in the work directory.
export SIGNET_DATA_DIR="$WORK/data"
"$BIN/signet" migrate up >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; exit 1; }

# Other users' sessions, as a deployment has: on a table of a few dozen
# rows Postgres scans it whole for every statement, and that cost grows
# with the dead row versions of the run, so neither side would measure
# what it does on a real table. The bare copies hold them too.
FILLER="${PERF_FILLER_SESSIONS:-100000}"
log "adding $FILLER other sessions (and half as many users)"
psql "$DB_URL" -v ON_ERROR_STOP=1 -v n="$FILLER" -qAt >/dev/null <<'SQL'
INSERT INTO users (id, email, password_hash, created_at, updated_at)
  SELECT 'filler-' || i, 'filler-' || i || '@perf.invalid', 'x', 0, 0 FROM generate_series(1, GREATEST(:n / 2, 1)) AS i;
INSERT INTO sessions (id, user_id, refresh_secret, created_at, rotated_at, idle_expires_at, absolute_expires_at, user_agent, ip)
  SELECT gen_random_uuid()::text, 'filler-' || (1 + i % GREATEST(:n / 2, 1)), '', 0, 0, 9e15, 9e15, 'filler', '127.0.0.1'
  FROM generate_series(1, :n) AS i;
VACUUM ANALYZE users;
VACUUM ANALYZE sessions;
SQL

# cpu_seconds prints the issuer's CPU time so far, from its /metrics.
cpu_seconds() {
  curl -s --max-time 2 "$ISSUER/metrics" | awk '/^process_cpu_seconds_total / { print $2 }'
}

# spend_counters prints the issuer's statements that spent refreshes and
# the refreshes they spent, from its /metrics (see docs/operations.md).
spend_counters() {
  curl -s --max-time 2 "$ISSUER/metrics" |
    awk '/^signet_db_refresh_statements_total / { s = $2 } /^signet_db_refresh_statement_rows_total / { r = $2 } END { print s + 0, r + 0 }'
}

# cpu_per_request BEFORE AFTER REPORT OP prints the issuer's CPU
# microseconds per request of OP over a run (warm-up included, so slightly
# high).
cpu_per_request() {
  python3 -c "import json, sys; r = json.load(open(sys.argv[1])); n = sum(o['requests'] for o in r['operations'].values()); print('%.0f' % (($2 - $1) * 1e6 / max(n, 1)))" "$3"
}

# pg_cpu_start OUT starts sampling the CPU time of this database's
# Postgres backends (/proc/PID/stat, every 0.2 s, each backend from the
# first time it is seen); pg_cpu_stop stops it, and OUT then holds the
# seconds they used (not in a subshell: it waits for its own child). A
# backend's last 0.2 s may be missed, so the figure is slightly low.
pg_cpu_start() {
  python3 - "$DB" "$1" <<'PY' &
import os, signal, sys, time
db, out = sys.argv[1], sys.argv[2]
tick = os.sysconf("SC_CLK_TCK")
first, last = {}, {}
stop = False
def done(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, done)
while not stop:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            if not cmd.startswith("postgres: ") or f" {db} " not in cmd:
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        t = (int(fields[11]) + int(fields[12])) / tick
        first.setdefault(pid, t)
        last[pid] = t
    time.sleep(0.2)
with open(out, "w") as f:
    f.write("%.3f\n" % sum(last[p] - first[p] for p in last))
PY
  PG_CPU_PID=$!
}
pg_cpu_stop() {
  kill -TERM "$PG_CPU_PID" 2>/dev/null || true
  wait "$PG_CPU_PID" 2>/dev/null || true
  PG_CPU_PID=""
}

# bare_setup cleans the sessions table of the refresh run's dead rows and
# copies the sessions, users and user_roles tables (shape,
# indexes and rows) into bare_sessions, bare_users and bare_user_roles, with session ids the pgbench clients can
# name (client N updates session N, as each signet-load worker refreshes its
# own), and prints the number of sessions.
bare_setup() {
  psql "$DB_URL" -v ON_ERROR_STOP=1 -qAt >/dev/null <<'SQL'
SET client_min_messages = warning;
-- The refresh run left dead row versions in sessions: clean them now, so
-- that autovacuum does not do it (and count as Postgres CPU) during pgbench.
VACUUM ANALYZE sessions;
DROP TABLE IF EXISTS bare_sessions, bare_users, bare_user_roles;
CREATE TABLE bare_users (LIKE users INCLUDING ALL);
INSERT INTO bare_users SELECT * FROM users;
CREATE TABLE bare_user_roles (LIKE user_roles INCLUDING ALL);
INSERT INTO bare_user_roles SELECT * FROM user_roles;
CREATE TABLE bare_sessions (LIKE sessions INCLUDING ALL);
INSERT INTO bare_sessions SELECT * FROM sessions;
UPDATE bare_sessions b SET id = lpad(n.i::text, 36, '0'), idle_expires_at = 9e15, absolute_expires_at = 9e15, revoked_at = NULL
  FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM bare_sessions) n WHERE n.id = b.id;
VACUUM ANALYZE bare_users;
VACUUM ANALYZE bare_user_roles;
VACUUM ANALYZE bare_sessions;
SQL
  psql "$DB_URL" -qAtc "SELECT count(*) FROM bare_sessions"
}

# The refresh's common path, the one statement of store.SpendRefresh on
# Postgres (the user's roles included), on the copies.
cat >"$WORK/bare.sql" <<'SQL'
UPDATE bare_sessions AS s
  SET refresh_counter = s.refresh_counter + 1, rotated_at = 1700000000000, idle_expires_at = LEAST(1800000000000, s.absolute_expires_at)
  FROM bare_users AS u
  WHERE s.id = lpad(:client_id::text, 36, '0') AND s.refresh_counter >= 0 AND s.revoked_at IS NULL
    AND s.idle_expires_at > 1700000000000 AND s.absolute_expires_at > 1700000000000 AND u.id = s.user_id
  RETURNING s.user_id, s.refresh_counter, s.rotated_at, s.created_at, s.idle_expires_at,
    s.absolute_expires_at, s.user_agent, s.ip, s.reissued_counter,
    u.email, u.created_at, u.email_verified_at IS NOT NULL,
    (SELECT string_agg(r.role, ' ') FROM bare_user_roles AS r WHERE r.user_id = s.user_id);
SQL

median() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

RESULTS="$WORK/results.txt"
: >"$RESULTS"
say() { echo "$*" | tee -a "$RESULTS"; }

# ---------------------------------------------------------------- 1, 2
log "issuer with bcrypt cost 4"
start_issuer 4
REFRESH=()
TRIPS=()
GROUP=()
REFRESH_CPU=()
LOAD_CPU=()
PG_CPU=()
OTHER_CPU=()
BARE=()
BARE_PG_CPU=()
BENCH_CPU=()
BARE_OTHER_CPU=()
RATIO=()
MODEL=()
LOADAVG=()
say "Postgres: $(psql "$DB_URL" -qAtc "SELECT 'synchronous_commit=' || current_setting('synchronous_commit') || ', max_connections=' || current_setting('max_connections')") (the same server and database for both sides); $(nproc) cores"
for i in $(seq 1 "$RUNS"); do
  log "refresh run $i: --mix refresh=1 --concurrency 32 --warmup 3s --duration $((DUR + 3))s"
  before="$(commits)"
  read -r st0 rows0 < <(spend_counters)
  cpu0="$(cpu_seconds)"
  m0="$(machine_cpu)"
  t0="$(date +%s.%N)"
  pg_cpu_start "$WORK/pgcpu-$i.txt"
  load "$WORK/refresh-$i.json" --mix refresh=1 --concurrency 32 --warmup 3s --duration "$((DUR + 3))s"
  pg_cpu_stop
  m1="$(machine_cpu)"
  t1="$(date +%s.%N)"
  LOADAVG+=("$(cut -d' ' -f1 /proc/loadavg)")
  pgcpu="$(cat "$WORK/pgcpu-$i.txt")"
  loadcpu="$(cat "$WORK/refresh-$i.json.cpu")"
  cpu1="$(cpu_seconds)"
  read -r st1 rows1 < <(spend_counters)
  GROUP+=("$(python3 -c "print('%.1f' % (($rows1 - $rows0) / max($st1 - $st0, 1)))")")
  after="$(commits)"
  # Per refresh (every refresh of the run, warm-up included, over the CPU
  # of the whole run, the sessions' sign-up and sign-in included, for
  # every figure alike): the issuer, the load client, Postgres, and the
  # rest of the machine's busy time over the run.
  read -r icpu lcpu pcpu ocpu < <(python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))
n = max(r['refreshes'], 1)
i, l, p, m = $cpu1 - $cpu0, $loadcpu, $pgcpu, $m1 - $m0
print(*('%.0f' % (x * 1e6 / n) for x in (i, l, p, max(m - i - l - p, 0))))" "$WORK/refresh-$i.json")
  REFRESH_CPU+=("$icpu")
  LOAD_CPU+=("$lcpu")
  PG_CPU+=("$pcpu")
  OTHER_CPU+=("$ocpu")

  n="$(bare_setup)"
  log "bare run $i: pgbench -M prepared -c 32 -j 2 -T $DUR on $n sessions"
  m0="$(machine_cpu)"
  pg_cpu_start "$WORK/barecpu-$i.txt"
  TIMEFORMAT='%U %S'
  { time pgbench -n -M prepared -c 32 -j 2 -T "$DUR" -f "$WORK/bare.sql" "$DB_URL" >"$WORK/bare-$i.txt" 2>&1 ||
    { cat "$WORK/bare-$i.txt" >&2; exit 1; }; } 2>"$WORK/bare-$i.time"
  pg_cpu_stop
  m1="$(machine_cpu)"
  # Likewise, the next refresh run does not pay for the copies' cleanup.
  psql "$DB_URL" -qAtc "DROP TABLE bare_sessions, bare_users, bare_user_roles" >/dev/null
  barecpu="$(cat "$WORK/barecpu-$i.txt")"
  benchcpu="$(awk '{ print $1 + $2 }' "$WORK/bare-$i.time")"
  read -r tps xacts < <(awk '/^tps = / && /without/ { t = $3 } /number of transactions actually processed/ { split($NF, a, "/"); x = a[1] } END { print t, x }' "$WORK/bare-$i.txt")
  BARE+=("$(printf '%.0f' "$tps")")
  read -r bpcpu bbcpu bocpu < <(python3 -c "
x = max($xacts, 1)
p, b, m = $barecpu, $benchcpu, $m1 - $m0
print(*('%.0f' % (v * 1e6 / x) for v in (p, b, max(m - p - b, 0))))")
  BARE_PG_CPU+=("$bpcpu")
  BENCH_CPU+=("$bbcpu")
  BARE_OTHER_CPU+=("$bocpu")
  RATIO+=("$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); o=r['operations']['refresh']; print('%.2f' % (o['ok'] / max(r['elapsed_seconds'], 1e-9) / $tps))" "$WORK/refresh-$i.json")")
  # With the CPU saturated, each side's rate is the CPU it gets over its
  # CPU per operation: the ratio without the issuer's share is
  # (bench + Postgres, bare) / (load client + Postgres) per operation,
  # the other work on the machine left out of both.
  MODEL+=("$(python3 -c "print('%.2f' % (($bbcpu + $bpcpu) / max($lcpu + $pcpu, 1)))")")
  TRIPS+=("$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('%.3f' % (($after - $before) / max(r['refreshes'], 1)))" "$WORK/refresh-$i.json")")
  REFRESH+=("$WORK/refresh-$i.json")
done
say "$(median_report "refresh, 32 sessions" refresh "${REFRESH[@]}")"
say "SQL transactions per refresh (sign-ups, sign-ins and key reloads included): median $(median "${TRIPS[@]}") (per run: ${TRIPS[*]})"
say "refreshes per spending statement (signet_db_refresh_statement_rows_total / signet_db_refresh_statements_total): median $(median "${GROUP[@]}") (per run: ${GROUP[*]})"
say "CPU per refresh, us: issuer median $(median "${REFRESH_CPU[@]}") (per run: ${REFRESH_CPU[*]}); load client median $(median "${LOAD_CPU[@]}") (${LOAD_CPU[*]}); Postgres median $(median "${PG_CPU[@]}") (${PG_CPU[*]}); rest of the machine median $(median "${OTHER_CPU[@]}") (${OTHER_CPU[*]})"
say "bare limit, pgbench -M prepared -c 32 -j 2, the rotation statement alone: median $(median "${BARE[@]}")/s (per run: ${BARE[*]})"
say "CPU per bare rotation, us: Postgres median $(median "${BARE_PG_CPU[@]}") (${BARE_PG_CPU[*]}); pgbench median $(median "${BENCH_CPU[@]}") (${BENCH_CPU[*]}); rest of the machine median $(median "${BARE_OTHER_CPU[@]}") (${BARE_OTHER_CPU[*]})"
say "load average (1 min) at the end of each refresh run: ${LOADAVG[*]}"
say "refresh / bare limit: median $(median "${RATIO[@]}") (per run: ${RATIO[*]})"
say "refresh / bare limit predicted from the CPU figures without the issuer's share: median $(median "${MODEL[@]}") (per run: ${MODEL[*]})"
if [ -n "${PERF_ONLY_REFRESH:-}" ]; then
  stop_issuer
  echo
  echo "perf: summary (medians of $RUNS runs, refresh only)"
  cat "$RESULTS"
  exit 0
fi

JWKS=()
JWKS304=()
JWKS_CPU=()
for i in $(seq 1 "$RUNS"); do
  log "jwks run $i: --mix jwks=1 --concurrency 32 --duration ${DUR}s"
  cpu0="$(cpu_seconds)"
  load "$WORK/jwks-$i.json" --mix jwks=1 --concurrency 32 --duration "${DUR}s"
  cpu1="$(cpu_seconds)"
  JWKS_CPU+=("$(cpu_per_request "$cpu0" "$cpu1" "$WORK/jwks-$i.json")")
  JWKS+=("$WORK/jwks-$i.json")
  log "jwks run $i with If-None-Match"
  load "$WORK/jwks304-$i.json" --mix jwks=1 --concurrency 32 --duration "${DUR}s" --jwks-if-none-match
  JWKS304+=("$WORK/jwks304-$i.json")
done
say "$(median_report "JWKS 200, 32 clients" jwks "${JWKS[@]}")"
say "$(median_report "JWKS 304 (If-None-Match), 32 clients" jwks "${JWKS304[@]}")"
say "issuer CPU per JWKS request (200): median $(median "${JWKS_CPU[@]}") us (per run: ${JWKS_CPU[*]})"
# The same load from wrk, a client in C that takes far less CPU than the Go
# load tool: what the issuer serves when the client does not eat half the
# machine. Skipped when wrk is not installed (apt-get install wrk).
if command -v wrk >/dev/null 2>&1; then
  WRK=()
  for i in $(seq 1 "$RUNS"); do
    log "jwks run $i with wrk -t1 -c32 -d${DUR}s"
    WRK+=("$(wrk -t1 -c32 -d"${DUR}s" "$ISSUER/.well-known/jwks.json" | awk '/Requests\/sec/ {printf "%d", $2}')")
  done
  say "JWKS 200 with wrk -t1 -c32: median $(median "${WRK[@]}")/s (per run: ${WRK[*]})"
fi
stop_issuer

# ---------------------------------------------------------------- 3
log "bcrypt alone at cost 12: go test ./issuer/httpapi -run '^\$' -bench '^BenchmarkBcrypt\$' -benchtime 20x -count $RUNS"
BENCH="$(SIGNET_BCRYPT_COST=12 go test ./issuer/httpapi -run '^$' -bench '^BenchmarkBcrypt$' -benchtime 20x -count "$RUNS")"
echo "$BENCH" >"$WORK/bcrypt.txt"
read -r T_BCRYPT_MS MAX_SIGNINS < <(echo "$BENCH" | python3 -c '
import re, statistics, sys
rows = [l.split() for l in sys.stdin if l.startswith("BenchmarkBcrypt")]
ns = statistics.median(float(r[2]) for r in rows)
mx = statistics.median(float(r[4]) for r in rows)
print("%.1f %.2f" % (ns / 1e6, mx))')
say "bcrypt alone, cost 12: median ${T_BCRYPT_MS} ms per comparison, so at most ${MAX_SIGNINS} sign-ins/s on $(nproc) cores"

# ---------------------------------------------------------------- 4, 5
log "issuer with bcrypt cost 12"
start_issuer 12
SIGNIN=()
for i in $(seq 1 "$RUNS"); do
  log "sign-in run $i: --mix signin=1 --concurrency 8 --warmup 3s --duration $((DUR * 2 + 3))s"
  load "$WORK/signin-$i.json" --mix signin=1 --concurrency 8 --warmup 3s --duration "$((DUR * 2 + 3))s"
  SIGNIN+=("$WORK/signin-$i.json")
done
say "$(median_report "sign-in, cost 12, 8 clients" signin "${SIGNIN[@]}")"

STORM_RATE="$(python3 -c "print(max(1, round(4 * $MAX_SIGNINS)))")"
STORM_R=()
STORM_S=()
for i in $(seq 1 "$RUNS"); do
  # The refresh sessions start (sign-up and sign-in, bcrypt) before the
  # storm takes every bcrypt slot; only the refreshes during it are counted.
  log "storm run $i: --mix refresh=1 --concurrency 32 --warmup 12s --duration $((DUR + 12))s, and from 12s --mix signin=1 --rate ${STORM_RATE}/s --concurrency 64 --duration $((DUR + 2))s"
  load "$WORK/storm-refresh-$i.json" --mix refresh=1 --concurrency 32 --warmup 12s --duration "$((DUR + 12))s" &
  refresher=$!
  sleep 11
  # The storm asks for 4 times what bcrypt can do: most of its sign-ins are
  # refused (503) by design, so its failures do not fail the run.
  load "$WORK/storm-signin-$i.json" --mix signin=1 --rate "${STORM_RATE}/s" --concurrency 64 --duration "$((DUR + 2))s" --max-failed off
  wait "$refresher"
  STORM_R+=("$WORK/storm-refresh-$i.json")
  STORM_S+=("$WORK/storm-signin-$i.json")
done
say "$(median_report "refresh during a sign-in storm of ${STORM_RATE}/s" refresh "${STORM_R[@]}")"
say "$(median_report "the storm's sign-ins" signin "${STORM_S[@]}")"
stop_issuer

echo
echo "perf: summary (medians of $RUNS runs)"
cat "$RESULTS"
