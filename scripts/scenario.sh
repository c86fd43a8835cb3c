#!/usr/bin/env bash
# scenario.sh: two issuer replicas on one Postgres, two resource servers,
# signet-load against all of them for SCENARIO_DURATION seconds (default 180;
# CI runs 40) while keys rotate, Postgres restarts once and one replica is
# stopped and started again. It then asserts:
#   - no access token failed verification for a reason other than expiry;
#   - exactly one active signing key per algorithm in every sample taken
#     once a second (samples that fail while Postgres is down are skipped);
#   - every account the load created exists, and users/sessions grew by at
#     least what the load created;
#   - both replicas answer /readyz 200 within SCENARIO_MAX_RECOVERY seconds
#     (default 5) of Postgres accepting connections again;
#   - at least one key rotation ran;
#   - at most SCENARIO_MAX_FAILED (default 50%) of the load's requests
#     failed: the Postgres restart fails requests on purpose, so this only
#     catches a run that mostly failed (signet-load --max-failed);
#   - revocation across the faults: signet-load signs sessions out all
#     along (--signouts) and every one that got its 204 is refused (401
#     revoked) by both resource servers, which follow replica 0's feed
#     through the Postgres restart, within 40 s; some of them were signed
#     out during the replica outage and just after Postgres came back; and
#     signet-load's own feed follower, which prefers replica 1, moved to
#     replica 0 when replica 1 stopped, resumed there from its cursor, and
#     saw every sign-out (none missed).
#
# Rotation uses plain "signet keys rotate" (publish the next key), not
# "--now": a key made active at once signs tokens whose kid the resource
# servers' cached JWKS does not hold yet, and they reject those until their
# unknown-kid refetch (5 s cooldown). That is the documented emergency
# behaviour, not a bug, so it cannot be part of a zero-failure assertion.
# The published key is promoted by the issuers' own rotation
# (SIGNET_ROTATION_PERIOD=30s), which publishes before signing.
#
# Needs: go, psql, pg_isready, curl, python3, and a Postgres on
# 127.0.0.1:5432 whose "postgres" role may create databases and which this
# script may restart (pg_ctlcluster, or SCENARIO_PG_STOP / SCENARIO_PG_START).
# Every server binds 127.0.0.1; everything started here is stopped on exit.
#
# The machine is left as it was found, whatever the outcome (failure,
# Ctrl-C, SIGTERM): the database it created is dropped, and a Postgres it
# stopped is started again. While Postgres is down, other users of it (a
# test run beside this one) fail: run it on a machine of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${SCENARIO_DURATION:-180}"
MAX_RECOVERY="${SCENARIO_MAX_RECOVERY:-5}"
REPLICA_DOWN="${SCENARIO_REPLICA_DOWN:-10}"
PG_HOST=127.0.0.1
PG_PORT="${SCENARIO_PG_PORT:-5432}"
PG_ADMIN_URL="postgres://postgres@$PG_HOST:$PG_PORT/postgres?sslmode=disable"
DB="signet_scenario_$$"
DB_URL="postgres://postgres@$PG_HOST:$PG_PORT/$DB?sslmode=disable"
ISSUER_PORTS=(18080 18081)
SHOP_PORT=18181
VIDEO_PORT=18182
ISSUER_URL="http://127.0.0.1:${ISSUER_PORTS[0]}"

if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || ((DURATION < 30 || DURATION > 3600)); then
  echo "scenario: SCENARIO_DURATION must be a whole number of seconds from 30 to 3600" >&2
  exit 2
fi
for tool in go psql pg_isready curl python3; do
  command -v "$tool" >/dev/null || { echo "scenario: $tool is required" >&2; exit 2; }
done
for cmd in signet shop-api video-api signet-load; do
  [ -d "cmd/$cmd" ] || { echo "scenario: cmd/$cmd is missing on this branch" >&2; exit 2; }
done
if [ -z "${SCENARIO_PG_STOP:-}" ]; then
  PG_CLUSTER="$(ls /etc/postgresql 2>/dev/null | head -n1)"
  [ -n "$PG_CLUSTER" ] || { echo "scenario: no cluster in /etc/postgresql; set SCENARIO_PG_STOP and SCENARIO_PG_START" >&2; exit 2; }
  SCENARIO_PG_STOP="pg_ctlcluster --skip-systemctl-redirect $PG_CLUSTER main stop"
  SCENARIO_PG_START="pg_ctlcluster --skip-systemctl-redirect $PG_CLUSTER main start"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/signet-scenario.XXXXXX")"
BIN="$WORK/bin"
LOGS="$WORK/logs"
mkdir -p "$BIN" "$LOGS"

log() { printf '%s scenario: %s\n' "$(date +%T)" "$*" >&2; }

# shellcheck source=scripts/lib.sh
. scripts/lib.sh # (the repository root is the working directory) now_ms, http_status, wait_ok, port_free, stop_pids

# ---------------------------------------------------------------- cleanup

declare -A PIDS=() # name → pid of every background process
DB_CREATED=0
PG_STOPPED=0 # 1 between stopping Postgres and starting it again

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if ((PG_STOPPED)); then
    echo "scenario: starting the Postgres this run stopped" >&2
    $SCENARIO_PG_START >>"$LOGS/pg-start.log" 2>&1 || echo "scenario: could not start Postgres again ($SCENARIO_PG_START)" >&2
    PG_STOPPED=0
  fi
  stop_pids
  if ((DB_CREATED)); then
    # Postgres may still be coming back from the restart.
    for _ in $(seq 1 30); do pg_isready -h "$PG_HOST" -p "$PG_PORT" -q && break; sleep 1; done
    psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 ||
      echo "scenario: could not drop database $DB" >&2
  fi
  if ((status == 0)) && [ -z "${SCENARIO_KEEP:-}" ]; then
    rm -rf "$WORK"
  else
    echo "scenario: logs and report kept in $WORK" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

start_issuer() {
  local i="$1" port="${ISSUER_PORTS[$1]}"
  SIGNET_ADDR="127.0.0.1:$port" "$BIN/signet" serve >>"$LOGS/issuer$i.log" 2>&1 &
  PIDS[issuer$i]=$!
}

# stop NAME sends SIGTERM and waits up to 15 s before SIGKILL.
stop() {
  local pid="${PIDS[$1]}"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$1]"
}

sql() { PGCONNECT_TIMEOUT=2 psql "$DB_URL" -v ON_ERROR_STOP=1 -qAtc "$1"; }

# sleep_until SECONDS sleeps until that many seconds after the load started.
sleep_until() {
  local wait_ms=$((LOAD_START + $1 * 1000 - $(now_ms)))
  if ((wait_ms > 0)); then
    sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"
  fi
}

# ---------------------------------------------------------------- build

log "building into $BIN"
go build -o "$BIN/" ./cmd/signet ./cmd/shop-api ./cmd/video-api ./cmd/signet-load

# ---------------------------------------------------------------- database

pg_isready -h "$PG_HOST" -p "$PG_PORT" -q || { echo "scenario: no Postgres on $PG_HOST:$PG_PORT" >&2; exit 2; }
for port in "${ISSUER_PORTS[@]}" "$SHOP_PORT" "$VIDEO_PORT"; do
  port_free "$port" || { echo "scenario: port $port is in use" >&2; exit 2; }
done

log "creating database $DB"
psql "$PG_ADMIN_URL" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $DB" >/dev/null
DB_CREATED=1

export SIGNET_DATABASE_URL="$DB_URL"
SIGNET_KEY_ENCRYPTION_KEY="$(head -c32 /dev/urandom | base64)"
export SIGNET_KEY_ENCRYPTION_KEY
export SIGNET_ISSUER_URL="$ISSUER_URL"
export SIGNET_AUDIENCE="shop-api,video-api"
export SIGNET_BCRYPT_COST=4
export SIGNET_JWKS_MAX_AGE=2s
export SIGNET_KEY_RELOAD_INTERVAL=1s
export SIGNET_ROTATION_PERIOD=30s
export SIGNET_ACCESS_TOKEN_TTL=1m
export SIGNET_LOG_FORMAT=text
# Every simulated user comes from 127.0.0.1: lift the per-address limits
# on sign-ups and rejected refresh tokens (the sign-in throttle stays).
export SIGNET_SIGNUP_LIMIT=off
export SIGNET_REFRESH_FAILURE_LIMIT=off
# Simulated users sign up and sign in at once: open sign-up, no
# confirmation (the account lifecycle has its own tests).
export SIGNET_SIGNUP_MODE=open
export SIGNET_REQUIRE_VERIFIED_EMAIL=false
# Their confirmation messages go to .eml files in the work directory.
export SIGNET_DATA_DIR="$WORK/data"

"$BIN/signet" migrate up >"$LOGS/migrate.log" 2>&1 || { cat "$LOGS/migrate.log" >&2; exit 1; }

# ---------------------------------------------------------------- servers

log "starting issuers on ${ISSUER_PORTS[*]} and resource servers on $SHOP_PORT, $VIDEO_PORT"
start_issuer 0
start_issuer 1
for port in "${ISSUER_PORTS[@]}"; do wait_ok "http://127.0.0.1:$port/readyz" 30; done
ADDR="127.0.0.1:$SHOP_PORT" ISSUER_URL="$ISSUER_URL" AUDIENCE=shop-api KEY_FILE="$WORK/shop-api.key" \
  "$BIN/shop-api" >"$LOGS/shop-api.log" 2>&1 &
PIDS[shop]=$!
ADDR="127.0.0.1:$VIDEO_PORT" ISSUER_URL="$ISSUER_URL" AUDIENCE=video-api \
  "$BIN/video-api" >"$LOGS/video-api.log" 2>&1 &
PIDS[video]=$!
wait_ok "http://127.0.0.1:$SHOP_PORT/healthz" 30
wait_ok "http://127.0.0.1:$VIDEO_PORT/healthz" 30

# The resource servers fetch the JWKS lazily and answer keyset_unavailable
# until their first fetch succeeds; /healthz does not wait for it. Start the
# load only once both accept a token just issued, so that start-up is not
# counted as a verification failure.
WARM_EMAIL="warmup-$$@scenario.example"
curl -s -o /dev/null -X POST "$ISSUER_URL/v1/signup" -H 'Content-Type: application/json' \
  -d "{\"email\": \"$WARM_EMAIL\", \"password\": \"warm-up password\"}"
WARM_TOKEN="$(curl -s -X POST "$ISSUER_URL/v1/signin" -H 'Content-Type: application/json' \
  -d "{\"email\": \"$WARM_EMAIL\", \"password\": \"warm-up password\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
for port in "$SHOP_PORT" "$VIDEO_PORT"; do
  for _ in $(seq 1 300); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H "Authorization: Bearer $WARM_TOKEN" \
      "http://127.0.0.1:$port/api/me" 2>/dev/null || true)"
    [ "$code" = 200 ] && break
    sleep 0.1
  done
  [ "$code" = 200 ] || { echo "scenario: the resource server on $port did not accept a token within 30 s" >&2; exit 1; }
done

USERS_BEFORE="$(sql 'SELECT count(*) FROM users')"
SESSIONS_BEFORE="$(sql 'SELECT count(*) FROM sessions')"
log "before: $USERS_BEFORE users, $SESSIONS_BEFORE sessions"

# ---------------------------------------------------------------- sampler

# One line a second: "ok alg=count ..." or "skip" when Postgres does not
# answer; bounded by the run's length plus a margin.
SAMPLES="$LOGS/active-keys.txt"
# Samples are due on whole seconds from the start, so a slow psql under load
# does not stretch the interval.
(
  start="$(now_ms)"
  for i in $(seq 1 $((DURATION + 120))); do
    if out="$(sql "SELECT alg, count(*) FROM signing_keys WHERE state = 'active' GROUP BY alg ORDER BY alg" 2>/dev/null)"; then
      echo "ok $(date +%T) $(echo "$out" | tr '|\n' '= ')"
    else
      echo "skip $(date +%T)"
    fi
    wait_ms=$((start + i * 1000 - $(now_ms)))
    if ((wait_ms > 0)); then sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"; fi
  done
) >"$SAMPLES" &
PIDS[sampler]=$!

# ---------------------------------------------------------------- load

REPORT="$WORK/report.json"
ACCOUNTS="$WORK/accounts.txt"
SIGNOUTS="$WORK/signouts.txt"
log "load for ${DURATION}s"
LOAD_START="$(now_ms)"
"$BIN/signet-load" \
  --issuer "http://127.0.0.1:${ISSUER_PORTS[0]}" --issuer "http://127.0.0.1:${ISSUER_PORTS[1]}" \
  --api "http://127.0.0.1:$SHOP_PORT" --api "http://127.0.0.1:$VIDEO_PORT" \
  --concurrency "${SCENARIO_CONCURRENCY:-16}" --duration "${DURATION}s" \
  --mix "signup=1,signin=2,refresh=10,api=20,jwks=1" \
  --rotate-every 10s --rotate-cmd "'$BIN/signet' keys rotate" \
  --max-failed "${SCENARIO_MAX_FAILED:-50%}" \
  --signouts 100000 --signout-workers 1 --reach-timeout 40s --signouts-out "$SIGNOUTS" \
  --feed-issuer "http://127.0.0.1:${ISSUER_PORTS[1]}" --feed-issuer "http://127.0.0.1:${ISSUER_PORTS[0]}" \
  --accounts-out "$ACCOUNTS" --json >"$REPORT" 2>"$LOGS/load.log" &
PIDS[load]=$!

# Postgres restart at a third of the run.
sleep_until $((DURATION / 3))
log "stopping Postgres"
PG_STOPPED=1
$SCENARIO_PG_STOP >"$LOGS/pg-stop.log" 2>&1
sleep 2
OUTAGE_READYZ="$(http_status "http://127.0.0.1:${ISSUER_PORTS[0]}/readyz") $(http_status "http://127.0.0.1:${ISSUER_PORTS[1]}/readyz")"
log "starting Postgres (readyz during the outage: $OUTAGE_READYZ)"
$SCENARIO_PG_START >"$LOGS/pg-start.log" 2>&1
PG_STOPPED=0
for _ in $(seq 1 300); do pg_isready -h "$PG_HOST" -p "$PG_PORT" -q && break; sleep 0.1; done
pg_isready -h "$PG_HOST" -p "$PG_PORT" -q || { echo "scenario: Postgres did not come back within 30 s" >&2; exit 1; }
PG_BACK="$(now_ms)"
RECOVERY_MS=""
for _ in $(seq 1 300); do
  if [ "$(http_status "http://127.0.0.1:${ISSUER_PORTS[0]}/readyz")" = 200 ] &&
    [ "$(http_status "http://127.0.0.1:${ISSUER_PORTS[1]}/readyz")" = 200 ]; then
    RECOVERY_MS=$(($(now_ms) - PG_BACK))
    break
  fi
  sleep 0.1
done
log "replicas ready ${RECOVERY_MS:-never (30 s)} ms after Postgres came back"

# Replica outage at two thirds of the run, back before the load ends.
STOP_AT=$((DURATION * 2 / 3))
if ((STOP_AT + REPLICA_DOWN + 3 > DURATION)); then STOP_AT=$((DURATION - REPLICA_DOWN - 3)); fi
sleep_until "$STOP_AT"
log "stopping issuer replica 1 for ${REPLICA_DOWN}s"
REPLICA_STOP="$(now_ms)"
stop issuer1
sleep "$REPLICA_DOWN"
REPLICA_START="$(now_ms)"
start_issuer 1
wait_ok "http://127.0.0.1:${ISSUER_PORTS[1]}/readyz" 30
log "issuer replica 1 is back"

# signet-load stops by itself; allow its request timeout and rotation on top.
LOAD_PID="${PIDS[load]}"
for _ in $(seq 1 $((DURATION + 90))); do kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 1; done
if kill -0 "$LOAD_PID" 2>/dev/null; then
  echo "scenario: signet-load did not stop by itself" >&2
  exit 1
fi
LOAD_RC=0
wait "$LOAD_PID" || LOAD_RC=$?
unset "PIDS[load]"
stop sampler

# ---------------------------------------------------------------- assertions

USERS_AFTER="$(sql 'SELECT count(*) FROM users')"
SESSIONS_AFTER="$(sql 'SELECT count(*) FROM sessions')"
MISSING="$(PGCONNECT_TIMEOUT=2 psql "$DB_URL" -v ON_ERROR_STOP=1 -qAt <<SQL
CREATE TEMP TABLE created (email text);
\copy created FROM '$ACCOUNTS'
SELECT count(*) FROM created c WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.email = lower(trim(c.email)));
SQL
)"
MISSING="$(echo "$MISSING" | tail -n1)"

read -r REQUESTS FAILED VERIFY_OTHER VERIFY_EXPIRED MISMATCHES CREATED SESSIONS ROT_OK ROT_FAILED \
  SO_MEASURED SO_NOT_REACHED SO_WRONG SO_P99 FEED_MISSED FEED_RESUMED_AT < <(
  python3 - "$REPORT" "$REPLICA_STOP" "$REPLICA_START" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
stop, start = int(sys.argv[2]), int(sys.argv[3])
rot = r.get("rotations") or {}
s = r["signouts"]
f = s["feed"]
# The follower's move from replica 1 (index 0) to replica 0 (index 1)
# after replica 1 stopped, resuming from a cursor: ms after the stop.
moved = [w["at_unix_ms"] - stop for w in f["switches"]
         if w["from"] == 0 and w["to"] == 1 and w["after"] not in ("", "0") and stop <= w["at_unix_ms"] <= start + 5000]
print(r["requests"], r["failed"], r["verification_failures_other"], r["verification_failures_expired"],
      r["identity_mismatches"], r["accounts_created"], r["sessions_started"], rot.get("ok", 0), rot.get("failed", 0),
      s["measured"], s["not_reached"], s["wrong_kind"], s["slowest_target_ms"]["p99"], f["missed"], moved[0] if moved else "none")
PY
) || {
  echo "scenario: could not read the signet-load report $REPORT (exit $LOAD_RC); its log ends:" >&2
  tail -n 20 "$LOGS/load.log" >&2
  exit 1
}
ACCOUNT_LINES="$(wc -l <"$ACCOUNTS")"
# Sign-outs by outcome, and those made while replica 1 was down and in the
# 10 s after Postgres came back.
SIGNOUT_LINES="$(wc -l <"$SIGNOUTS")"
SIGNOUTS_UNREACHED="$(awk '$2 != "reached"' "$SIGNOUTS" | wc -l)"
SIGNOUTS_REPLICA_DOWN="$(awk -v a="$REPLICA_STOP" -v b="$REPLICA_START" '$2 == "reached" && $1 >= a && $1 <= b' "$SIGNOUTS" | wc -l)"
SIGNOUTS_PG_BACK="$(awk -v a="$PG_BACK" -v b="$((PG_BACK + 10000))" '$2 == "reached" && $1 >= a && $1 <= b' "$SIGNOUTS" | wc -l)"
GOOD_SAMPLES="$(grep -c '^ok' "$SAMPLES" || true)"
SKIPPED_SAMPLES="$(grep -c '^skip' "$SAMPLES" || true)"
# A good sample has at least one algorithm and every count equal to 1.
BAD_SAMPLES="$(grep '^ok' "$SAMPLES" | awk '{ bad = (NF < 3); for (i = 3; i <= NF; i++) { split($i, p, "="); if (p[2] != 1) bad = 1 } if (bad) print }' || true)"

FAILURES=()
check() { # check CONDITION-TEXT RESULT
  if [ "$2" = ok ]; then printf '  ok    %s\n' "$1"; else printf '  FAIL  %s\n' "$1"; FAILURES+=("$1"); fi
}
verdict() { if eval "$1"; then echo ok; else echo fail; fi; }

echo
echo "signet scenario, ${DURATION}s: $REQUESTS requests, $FAILED failed (signet-load exit $LOAD_RC)"
echo "  users $USERS_BEFORE -> $USERS_AFTER, sessions $SESSIONS_BEFORE -> $SESSIONS_AFTER"
echo "  accounts created $CREATED, sessions started $SESSIONS, rotations $ROT_OK ok / $ROT_FAILED failed"
echo "  active-key samples: $GOOD_SAMPLES taken, $SKIPPED_SAMPLES skipped while Postgres was away"
echo "  readyz during the Postgres outage: $OUTAGE_READYZ"
echo "  full report: $REPORT, logs: $LOGS"
echo
check "signet-load ran and exited 0" "$(verdict '((LOAD_RC == 0))')"
check "verification failures other than expiry: $VERIFY_OTHER (expired: $VERIFY_EXPIRED)" "$(verdict '((VERIFY_OTHER == 0))')"
check "identity mismatches at the resource servers: $MISMATCHES" "$(verdict '((MISMATCHES == 0))')"
check "one active key per algorithm in every sample ($(echo -n "$BAD_SAMPLES" | grep -c . || true) bad)" "$(verdict '[ -z "$BAD_SAMPLES" ]')"
check "enough samples ($GOOD_SAMPLES >= $((DURATION / 2)))" "$(verdict '((GOOD_SAMPLES >= DURATION / 2))')"
check "every created account exists ($ACCOUNT_LINES listed, $MISSING missing)" "$(verdict '((MISSING == 0 && ACCOUNT_LINES == CREATED))')"
check "users grew by at least $CREATED" "$(verdict '((USERS_AFTER >= USERS_BEFORE + CREATED))')"
check "sessions grew by at least $SESSIONS" "$(verdict '((SESSIONS_AFTER >= SESSIONS_BEFORE + SESSIONS))')"
check "replicas ready ${RECOVERY_MS:-never} ms after Postgres was back (limit ${MAX_RECOVERY}s)" \
  "$(verdict '[ -n "$RECOVERY_MS" ] && ((RECOVERY_MS <= MAX_RECOVERY * 1000))')"
check "key rotations ran ($ROT_OK ok)" "$(verdict '((ROT_OK >= 1))')"
check "sign-outs refused (401 revoked) by both resource servers: $SO_MEASURED (p99 ${SO_P99} ms), $SO_NOT_REACHED not within 40 s, $SO_WRONG refused otherwise" \
  "$(verdict '((SO_MEASURED >= 10 && SO_NOT_REACHED == 0 && SO_WRONG == 0 && SIGNOUTS_UNREACHED == 0 && SIGNOUT_LINES == SO_MEASURED))')"
check "sign-outs during the replica outage ($SIGNOUTS_REPLICA_DOWN) and in the 10 s after Postgres came back ($SIGNOUTS_PG_BACK) all refused" \
  "$(verdict '((SIGNOUTS_REPLICA_DOWN >= 1 && SIGNOUTS_PG_BACK >= 1))')"
check "the feed follower moved from replica 1 to 0 resuming from its cursor (${FEED_RESUMED_AT} ms after the stop) and missed $FEED_MISSED sign-outs" \
  "$(verdict '[ "$FEED_RESUMED_AT" != none ] && ((FEED_MISSED == 0))')"

if [ -n "$BAD_SAMPLES" ]; then
  echo
  echo "samples without exactly one active key per algorithm:"
  echo "$BAD_SAMPLES" | head -n 20
fi
if ((${#FAILURES[@]})); then
  echo
  echo "scenario: ${#FAILURES[@]} assertion(s) failed"
  exit 1
fi
echo
echo "scenario: all assertions passed"
