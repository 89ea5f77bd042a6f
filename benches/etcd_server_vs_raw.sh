#!/usr/bin/env bash
# lockd in etcd mode against raw etcd, in one run (examples/etcd_server_bench.rs): two lockd
# servers over the cluster, 50 clients doing g+r cycles (one request at a time, then 8 cycles
# per write) next to 50 raw put+delete tasks, interleaved rounds, with the ratio; then the
# hand-off latency from one server's release to the other server's waiter. Uses
# LOCKD_ETCD_ENDPOINTS if set; otherwise starts (and afterwards stops) the 3-member cluster of
# scripts/etcd-cluster.sh.
#   SECONDS_PER_SIDE=2 ROUNDS=3 bash benches/etcd_server_vs_raw.sh
set -euo pipefail
cd "$(dirname "$0")/.."
endpoints=${LOCKD_ETCD_ENDPOINTS:-}
if [ -z "$endpoints" ]; then
  endpoints=$(bash scripts/etcd-cluster.sh start)
  trap 'bash scripts/etcd-cluster.sh stop' EXIT
fi
cargo build --release --quiet --features etcd,tcp-server --example etcd_server_bench
target/release/examples/etcd_server_bench "$endpoints" "${SECONDS_PER_SIDE:-2}" "${ROUNDS:-3}"
