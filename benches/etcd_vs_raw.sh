#!/usr/bin/env bash
# The etcd backend against raw etcd, in one run (examples/etcd_bench.rs): uncontended try +
# release cycles/s next to raw put + delete pairs, same client and concurrency (1 task, 32 tasks
# on distinct names), with p50/p99 latency. Uses LOCKD_ETCD_ENDPOINTS if set; otherwise starts
# (and afterwards stops) the 3-member cluster of scripts/etcd-cluster.sh.
#   SECONDS_PER_SIDE=2 ROUNDS=5 bash benches/etcd_vs_raw.sh
set -euo pipefail
cd "$(dirname "$0")/.."
endpoints=${LOCKD_ETCD_ENDPOINTS:-}
if [ -z "$endpoints" ]; then
  endpoints=$(bash scripts/etcd-cluster.sh start)
  trap 'bash scripts/etcd-cluster.sh stop' EXIT
fi
cargo build --release --quiet --features etcd --example etcd_bench
target/release/examples/etcd_bench "$endpoints" "${SECONDS_PER_SIDE:-2}" "${ROUNDS:-5}"
