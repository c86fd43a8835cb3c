# lib.sh: helpers shared by scripts/scenario.sh and scripts/reach.sh
# (sourced, not run). Messages name the script that sources it.

# now_ms prints wall-clock milliseconds.
now_ms() {
  local t="${EPOCHREALTIME/[.,]/}"
  echo $((t / 1000))
}

# http_status URL prints the status code, or 000 when nothing answers.
http_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" 2>/dev/null || true
}

# wait_ok URL SECONDS waits until URL answers 200.
wait_ok() {
  local url="$1" deadline=$(($(now_ms) + $2 * 1000))
  while (($(now_ms) < deadline)); do
    [ "$(http_status "$url")" = 200 ] && return 0
    sleep 0.1
  done
  echo "$(basename "$0" .sh): $url did not answer 200 within $2 s" >&2
  return 1
}

# port_free PORT succeeds when nothing listens on 127.0.0.1:PORT.
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# stop_pids stops the processes of the associative array PIDS (name →
# pid): TERM to each, then up to 5 s for each to end before KILL, and
# reaps them.
stop_pids() {
  local name pid
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  for name in "${!PIDS[@]}"; do
    pid="${PIDS[$name]}"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
