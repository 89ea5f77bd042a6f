#!/usr/bin/env bash
# lockd vs Redis, measured in one run on this machine (loopback only), with the load generator
# (examples/loadgen.rs) speaking each server's protocol. Prints a Markdown table of ratios.
#
#   bash benches/lockd_vs_redis.sh            # DURATION=10 by default; IDLE=10000
#
# Installs Debian's redis-server if missing (needs root and the package registry), and starts
# both servers on 127.0.0.1 itself; stops them on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
IDLE=${IDLE:-10000}
LOCKD_PORT=${LOCKD_PORT:-19999}
REDIS_PORT=${REDIS_PORT:-16379}

if ! command -v redis-server >/dev/null; then
  echo "installing redis-server" >&2
  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
cargo build --release --features cli --bin lockd --example loadgen >&2
LOADGEN=target/release/examples/loadgen

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

ulimit -n 20000 2>/dev/null || true
target/release/lockd --port "$LOCKD_PORT" --log warn --max-connections 20000 &
pids+=($!); LOCKD_PID=$!
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --maxclients 20000 \
  --daemonize no --loglevel warning >/dev/null &
pids+=($!)
for port in "$LOCKD_PORT" "$REDIS_PORT"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

run() { # mode port c p -> "rps p50 p99"
  "$LOADGEN" --quiet --mode "$1" --addr "127.0.0.1:$2" -c "$3" -p "$4" -d "$DURATION"
}

echo "| measure | lockd | Redis | ratio | target |"
echo "|---|---|---|---|---|"
read -r l_rps _ _ < <(run lockd "$LOCKD_PORT" 50 16)
read -r r_rps _ _ < <(run redis "$REDIS_PORT" 50 16)
echo "| C=50, P=16, unique keys, get+release: requests/s | $l_rps | $r_rps | $(awk "BEGIN{printf \"%.2f\", $l_rps/$r_rps}")× | ≥ 0.8× |"
read -r _ l_p50 l_p99 < <(run lockd "$LOCKD_PORT" 1 1)
read -r _ r_p50 r_p99 < <(run redis "$REDIS_PORT" 1 1)
echo "| C=1, P=1: p50 latency (µs) | $l_p50 | $r_p50 | $(awk "BEGIN{printf \"%.2f\", $l_p50/$r_p50}")× | ≤ 1.2× |"
echo "| C=1, P=1: p99 latency (µs) | $l_p99 | $r_p99 | $(awk "BEGIN{printf \"%.2f\", $l_p99/$r_p99}")× | — |"

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
before=$(rss "$LOCKD_PID")
fifo=$(mktemp -u); mkfifo "$fifo"
"$LOADGEN" --addr "127.0.0.1:$LOCKD_PORT" --idle "$IDLE" < "$fifo" > "$fifo.out" &
gen=$!
exec 4>"$fifo"
until grep -q "^holding" "$fifo.out" 2>/dev/null; do sleep 0.2; done
held=$(rss "$LOCKD_PID")
echo >&4; exec 4>&-
wait "$gen"
freed=$(grep -o '[0-9]* ms after' "$fifo.out" | grep -o '^[0-9]*')
rm -f "$fifo" "$fifo.out"
echo "| $IDLE idle connections each holding a lock: server RSS | $((held / 1024)) MB (idle server: $((before / 1024)) MB) | | | ≤ 100 MB |"
echo "| dropping them all: every lock free after | $freed ms | | | ≤ 1000 ms |"
