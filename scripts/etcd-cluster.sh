#!/usr/bin/env bash
# A 3-member etcd cluster on 127.0.0.1 for lockd's etcd tests and benchmarks, with its own ports
# and data directories; it stops only the members it started (by the pids it recorded).
#
#   scripts/etcd-cluster.sh start        install what is missing, start 3 members, wait for a leader
#   scripts/etcd-cluster.sh stop         stop the members this script started, remove their data
#   scripts/etcd-cluster.sh endpoints    print the client endpoints (comma-separated)
#   scripts/etcd-cluster.sh status       one line per member: endpoint, pid, leader or follower
#   scripts/etcd-cluster.sh kill-leader  SIGKILL the current leader; prints its member number
#   scripts/etcd-cluster.sh restart N    start member N (1-3) again after a kill
#   scripts/etcd-cluster.sh heal         start every member that is down, wait for a leader
#
# Environment: ETCD_CLUSTER_DIR (default target/etcd-cluster), ETCD_BASE_PORT (default 23790:
# member N listens for clients on BASE+2N-1 and for peers on BASE+2N).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${ETCD_CLUSTER_DIR:-$PWD/target/etcd-cluster}
base=${ETCD_BASE_PORT:-23790}
members=(1 2 3)

client_port() { echo $((base + 2 * $1 - 1)); }
peer_port() { echo $((base + 2 * $1)); }
endpoint() { echo "http://127.0.0.1:$(client_port "$1")"; }
endpoints() {
  local out="" n
  for n in "${members[@]}"; do out+="${out:+,}$(endpoint "$n")"; done
  echo "$out"
}
initial_cluster() {
  local out="" n
  for n in "${members[@]}"; do out+="${out:+,}m$n=http://127.0.0.1:$(peer_port "$n")"; done
  echo "$out"
}

install() {
  local missing=()
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
  command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
  [ -e /usr/include/google/protobuf/timestamp.proto ] || missing+=(libprotobuf-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "etcd-cluster: installing ${missing[*]} from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null ||
      { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
  fi
}

alive() { [ -f "$dir/m$1.pid" ] && kill -0 "$(cat "$dir/m$1.pid")" 2>/dev/null; }

start_member() {
  local n=$1 state=${2:-new}
  mkdir -p "$dir/m$n"
  # setsid: the member outlives the shell that started it, in its own process group.
  setsid etcd --name "m$n" --data-dir "$dir/m$n/data" \
    --listen-client-urls "$(endpoint "$n")" --advertise-client-urls "$(endpoint "$n")" \
    --listen-peer-urls "http://127.0.0.1:$(peer_port "$n")" \
    --initial-advertise-peer-urls "http://127.0.0.1:$(peer_port "$n")" \
    --initial-cluster "$(initial_cluster)" --initial-cluster-state "$state" \
    --initial-cluster-token lockd-test \
    --heartbeat-interval 100 --election-timeout 1000 \
    >"$dir/m$n/log" 2>&1 </dev/null &
  echo $! >"$dir/m$n.pid"
}

wait_healthy() {
  local i
  for i in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints "$(endpoints)" --command-timeout=1s endpoint status \
      -w simple 2>/dev/null | awk -F', ' '$5 == "true" { found = 1 } END { exit !found }'; then
      return 0
    fi
    sleep 0.2
  done
  echo "etcd-cluster: no leader after 20 s; logs in $dir/m*/log" >&2
  return 1
}

stop() {
  local n pid
  for n in "${members[@]}"; do
    if [ -f "$dir/m$n.pid" ]; then
      pid=$(cat "$dir/m$n.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/m$n.pid"
    fi
  done
  rm -rf "$dir"
}

status() {
  local n role
  for n in "${members[@]}"; do
    if alive "$n"; then
      role=$(ETCDCTL_API=3 etcdctl --endpoints "$(endpoint "$n")" --command-timeout=1s \
        endpoint status -w simple 2>/dev/null | awk -F', ' '{ print ($5 == "true") ? "leader" : "follower" }')
      echo "m$n $(endpoint "$n") pid $(cat "$dir/m$n.pid") ${role:-unreachable}"
    else
      echo "m$n $(endpoint "$n") down"
    fi
  done
}

case "${1:-}" in
  start)
    install
    if alive 1 || alive 2 || alive 3; then stop; fi
    rm -rf "$dir"
    mkdir -p "$dir"
    for n in "${members[@]}"; do start_member "$n"; done
    wait_healthy
    endpoints
    ;;
  stop) stop ;;
  endpoints) endpoints ;;
  status) status ;;
  kill-leader)
    for n in "${members[@]}"; do
      if alive "$n" && ETCDCTL_API=3 etcdctl --endpoints "$(endpoint "$n")" --command-timeout=1s \
        endpoint status -w simple 2>/dev/null | awk -F', ' '$5 == "true" { found = 1 } END { exit !found }'; then
        kill -9 "$(cat "$dir/m$n.pid")"
        rm -f "$dir/m$n.pid"
        echo "$n"
        exit 0
      fi
    done
    echo "etcd-cluster: no live leader" >&2
    exit 1
    ;;
  restart)
    n=${2:?member number 1-3}
    alive "$n" || start_member "$n" existing
    wait_healthy
    ;;
  heal)
    for n in "${members[@]}"; do alive "$n" || start_member "$n" existing; done
    wait_healthy
    ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
