#!/usr/bin/env bash
# Server memory after a mass release, measured on this machine over loopback with
# examples/mass_locks.rs as the client: ONE connection takes LOCKS locks (pipelined `g NAME`
# lines), then releases them all, either (a) by `r NAME` lines on the same connection, which
# stays open (the session lives on, holding nothing), or (b) by disconnecting. Each path runs
# on a fresh server. After the release has finished (`q` says `locks: 0`) and SETTLE seconds
# have passed, the server's RSS must be back within max(16 MB, 10 % of the growth) of its
# baseline. Prints a Markdown table of the figures and PASS/MISS per path; asserts nothing.
#
#   bash benches/memory_after_release.sh               # LOCKS=1000000, SETTLE=2
#   LOCKS=20000 bash benches/memory_after_release.sh   # smoke run (CI)
#   LOCKD=path/to/lockd bash benches/...               # measure another build of the server
#
# RSS is VmRSS of /proc/PID/status; the peak is VmHWM (the high-water mark). The servers listen
# on 127.0.0.1 with a port the OS chooses; only the processes started here are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCKS=${LOCKS:-1000000}
SETTLE=${SETTLE:-2}
BOUND_FLOOR_KB=$((16 * 1024))

OUT=${CARGO_TARGET_DIR:-target}/release
cargo build --release --features cli --bin lockd --example mass_locks >&2
LOCKD=${LOCKD:-$OUT/lockd}
CLIENT=$OUT/examples/mass_locks

work=$(mktemp -d)
server=""; client=""
cleanup() {
  exec 4>&- 2>/dev/null || true
  for p in $client $server; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

status() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # pid key -> kB
mb() { awk -v kb="$1" 'BEGIN{printf "%.1f", kb / 1024}'; }
wait_for() { # file pattern pid: until the pattern shows up in the file the process writes
  for _ in $(seq 6000); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "it stopped early:" >&2; cat "$1" >&2; exit 1; }
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1" >&2; exit 1
}

run() { # release path (by-name | disconnect) -> one table row
  local path=$1 addr base peak after growth left bound verdict held_ms freed_ms
  "$LOCKD" --bind 127.0.0.1 --port 0 --log info --max-connections 100 2>"$work/lockd.log" &
  server=$!
  wait_for "$work/lockd.log" "lockd listening" "$server"
  addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/lockd.log" | head -1)
  sleep 0.5
  base=$(status "$server" VmRSS)

  rm -f "$work/fifo"; mkfifo "$work/fifo"
  "$CLIENT" --addr "$addr" --locks "$LOCKS" --release "$path" <"$work/fifo" >"$work/client.out" &
  client=$!
  exec 4>"$work/fifo"
  wait_for "$work/client.out" "^held" "$client"
  held_ms=$(grep -o '^held [0-9]* in [0-9]*' "$work/client.out" | awk '{print $4}')
  echo >&4 # release
  wait_for "$work/client.out" "^released" "$client"
  freed_ms=$(grep -o '^released in [0-9]*' "$work/client.out" | awk '{print $3}')
  sleep "$SETTLE"
  after=$(status "$server" VmRSS)
  peak=$(status "$server" VmHWM)
  echo >&4; exec 4>&- # the client exits (closing a by-name connection only now)
  wait "$client" || true; client=""
  kill "$server"; wait "$server" 2>/dev/null || true; server=""

  growth=$((peak - base)); left=$((after - base))
  bound=$((growth / 10 > BOUND_FLOOR_KB ? growth / 10 : BOUND_FLOOR_KB))
  verdict=$([ "$left" -le "$bound" ] && echo PASS || echo MISS)
  echo "$path: took $LOCKS locks in $held_ms ms, released in $freed_ms ms" >&2
  echo "| $path | $(mb "$base") | $(mb "$peak") | $(mb "$after") | $(mb "$growth") | $(mb "$left") | $(mb "$bound") | $(awk -v l="$left" -v g="$growth" 'BEGIN{printf "%.1f %%", (g > 0 ? 100 * l / g : 0)}') | $verdict |"
}

echo "$LOCKS locks taken by one connection, then released; RSS in MB, $SETTLE s after the release:"
echo
echo "| release path | baseline | peak | after release | growth | left over | bound | left / growth | result |"
echo "|---|---|---|---|---|---|---|---|---|"
run by-name
run disconnect
