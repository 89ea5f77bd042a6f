#!/usr/bin/env bash
# Server memory with many idle clients, in plaintext and over TLS, measured in one run: N lockd
# connections each holding a lock, and N Consul API connections each with a parked blocking
# query (examples/idle_memory.rs is the client). Each figure comes from a fresh server process;
# the certificates are made here with openssl (a CA and a leaf for localhost, ECDSA P-256).
# Prints a Markdown table.
#
#   bash benches/idle_memory.sh            # N=10000
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
LOCKD_PORT=${LOCKD_PORT:-19990}
TLS_PORT=${TLS_PORT:-19991}
HTTP_PORT=${HTTP_PORT:-19992}
HTTPS_PORT=${HTTPS_PORT:-19993}

command -v openssl >/dev/null || apt-get install -y -q openssl >/dev/null
cargo build --release --features cli,http,tls --bin lockd --example idle_memory >&2
CLIENT=target/release/examples/idle_memory

dir=$(mktemp -d)
server=""; gen=""
# Only processes this script started and has not yet reaped.
cleanup() {
  for p in $gen $server; do kill "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=lockd bench CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
  -keyout "$dir/key.pem" -out "$dir/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' > "$dir/ext"
openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 2 -extfile "$dir/ext" -out "$dir/cert.pem" 2>/dev/null

ulimit -n $((N * 2 + 1000)) 2>/dev/null || true
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
tls=(--tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem")

# measure LABEL PORT CLIENT-ARGS -- SERVER-ARGS: one fresh server, N idle clients; prints a row.
measure() {
  local label=$1 port=$2; shift 2
  local client=()
  while [ "$1" != "--" ]; do client+=("$1"); shift; done; shift
  target/release/lockd --log warn --max-connections $((N + 100)) \
    --http-max-connections $((N + 100)) "$@" &
  server=$!
  local up=""
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { up=1; break; }
    sleep 0.1
  done
  [ -n "$up" ] || { echo "lockd $* never listened on $port" >&2; exit 1; }
  local before; before=$(rss "$server")
  local fifo="$dir/fifo"; rm -f "$fifo"; mkfifo "$fifo"
  "$CLIENT" "${client[@]}" --n "$N" < "$fifo" > "$fifo.out" &
  gen=$!
  exec 4>"$fifo"
  until grep -q "^ready" "$fifo.out" 2>/dev/null; do
    kill -0 "$gen" 2>/dev/null || { cat "$fifo.out" >&2; echo "the client failed" >&2; exit 1; }
    sleep 0.2
  done
  local held; held=$(rss "$server")
  echo >&4; exec 4>&-
  wait "$gen"; gen=""
  local after; after=$(grep -o '[0-9]* ms after\|woken in [0-9]* µs' "$fifo.out")
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  echo "| $label | $((held / 1024)) MB (idle server: $((before / 1024)) MB) | $(( (held - before) * 1024 / N )) B | $after |"
}

echo "| $N clients | server RSS | per client | then |"
echo "|---|---|---|---|"
measure "lockd protocol, each holding a lock" "$LOCKD_PORT" --lockd "127.0.0.1:$LOCKD_PORT" -- \
  --port "$LOCKD_PORT"
measure "lockd protocol over TLS, each holding a lock" "$TLS_PORT" \
  --lockd "127.0.0.1:$TLS_PORT" --ca "$dir/ca.pem" -- \
  --tls-port "$TLS_PORT" --no-plaintext "${tls[@]}"
measure "Consul API, each with a parked blocking query" "$HTTP_PORT" --http "127.0.0.1:$HTTP_PORT" -- \
  --no-tcp --http "127.0.0.1:$HTTP_PORT"
measure "Consul API over HTTPS, each with a parked blocking query" "$HTTPS_PORT" \
  --http "127.0.0.1:$HTTPS_PORT" --ca "$dir/ca.pem" -- \
  --no-tcp --https "127.0.0.1:$HTTPS_PORT" "${tls[@]}"
