#!/usr/bin/env bash
# lockd's Consul HTTP API vs a bare hyper server answering 200 OK (the ceiling), measured in one
# run on this machine over loopback, with examples/http_load.rs as the client. Prints a Markdown
# table of ratios, then the memory of 10,000 parked blocking queries.
#
#   bash benches/http_vs_hyper.sh            # DURATION=10, ROUNDS=2, PARKED=10000
#
# Both servers run as their own processes on a multi-threaded Tokio runtime; the rounds
# alternate between them so that machine noise hits both alike.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
PARKED=${PARKED:-10000}
LOCKD_PORT=${LOCKD_PORT:-18500}
BARE_PORT=${BARE_PORT:-18600}

cargo build --release --features cli,http --bin lockd --example http_load >&2
LOAD=target/release/examples/http_load

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

ulimit -n 30000 2>/dev/null || true
target/release/lockd --no-tcp --http "127.0.0.1:$LOCKD_PORT" --log warn --http-max-connections 20000 &
pids+=($!); LOCKD_PID=$!
"$LOAD" --serve-bare "127.0.0.1:$BARE_PORT" &
pids+=($!)
for port in "$LOCKD_PORT" "$BARE_PORT"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

l_total=0; b_total=0
for _ in $(seq "$ROUNDS"); do
  read -r b_rps b_p50 b_p99 < <("$LOAD" --addr "127.0.0.1:$BARE_PORT" --bare -c 50 -d "$DURATION")
  read -r l_rps l_p50 l_p99 < <("$LOAD" --addr "127.0.0.1:$LOCKD_PORT" -c 50 -d "$DURATION")
  echo "round: lockd $l_rps req/s (p50 $l_p50 µs, p99 $l_p99 µs), bare hyper $b_rps req/s (p50 $b_p50 µs, p99 $b_p99 µs)" >&2
  l_total=$((l_total + l_rps)); b_total=$((b_total + b_rps))
done

echo "| measure | lockd | bare hyper | ratio | target |"
echo "|---|---|---|---|---|"
echo "| C=50 keep-alive, acquire+release PUTs: requests/s | $((l_total / ROUNDS)) | $((b_total / ROUNDS)) | $(awk "BEGIN{printf \"%.2f\", $l_total/$b_total}")× | ≥ 0.5× |"

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
before=$(rss "$LOCKD_PID")
fifo=$(mktemp -u); mkfifo "$fifo"
"$LOAD" --addr "127.0.0.1:$LOCKD_PORT" --parked "$PARKED" < "$fifo" > "$fifo.out" &
gen=$!
exec 4>"$fifo"
until grep -q "^parked" "$fifo.out" 2>/dev/null; do sleep 0.2; done
parked=$(rss "$LOCKD_PID")
cpu_before=$(awk '{print $14+$15}' "/proc/$LOCKD_PID/stat")
sleep 2
cpu_after=$(awk '{print $14+$15}' "/proc/$LOCKD_PID/stat")
echo >&4; exec 4>&-
wait "$gen"
woken=$(grep -o 'woken in [0-9]* µs' "$fifo.out" | grep -o '[0-9]*')
rm -f "$fifo" "$fifo.out"
echo "| $PARKED parked blocking queries: server RSS | $((parked / 1024)) MB (before: $((before / 1024)) MB) | | | ≤ 100 MB |"
echo "| CPU used while they are parked, over 2 s | $((cpu_after - cpu_before)) ticks | | | 0 |"
echo "| one write wakes its query: answered after | $woken µs | | | ms |"
