#!/usr/bin/env bash
# Figures for the README's Limits section, measured against a release `lockd` on 127.0.0.1:
#  1. reply amplification: one client holds LOCKS locks, another writes `d\n` FLOOD times in
#     one go and reads nothing for a while: the server's RSS then (bounded by the pending-output
#     cap plus one reply), and after the flood has been read;
#  2. the dead-peer detection time for a real half-open holder (network namespaces; needs root),
#     from the keepalive test, which prints it.
# Prints figures; asserts nothing about time. LOCKS=, FLOOD=, CAP= (bytes) change the sizes;
# DETECTION=0 leaves out part 2.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCKS=${LOCKS:-1000}
FLOOD=${FLOOD:-8192}
CAP=${CAP:-262144}

cargo build --release --quiet --features cli --bin lockd
log=$(mktemp)
target/release/lockd --port 0 --max-pending-output "$CAP" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q 'addr=' "$log" && break; sleep 0.1; done
addr=$(grep -o 'addr=[0-9.:]*' "$log" | head -n 1 | cut -d= -f2)

rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

python3 - "$addr" "$LOCKS" "$FLOOD" "$pid" "$CAP" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
locks, flood, pid, cap = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])

def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])

def connect():
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def read_exactly(s, n):
    got = 0
    while got < n:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise SystemExit("connection closed early")
        got += len(chunk)
    return got

base = rss_kb()
holder = connect()
holder.sendall(b"".join(b"g lock-%06d\n" % i for i in range(locks)))
one_get = len(b"1 Lock Get Success: lock-000000\n")
read_exactly(holder, locks * one_get)
held = rss_kb()

probe = connect()
probe.sendall(b"d\n")
time.sleep(0.2)
reply = len(probe.recv(1 << 24))  # one full `d`: every lock, one line each
flooder = connect()
flooder.sendall(b"d\n" * flood)
time.sleep(2)  # the flooder reads nothing meanwhile
during = rss_kb()
got = read_exactly(flooder, flood * reply)
time.sleep(0.5)
after = rss_kb()
mb = lambda kb: f"{kb / 1024:.1f} MB"
print(f"reply amplification, {locks} locks held, {flood} x 'd' in one write ({flood * reply / 1e6:.0f} MB of replies)")
print(f"  RSS: baseline {mb(base)}, with the locks {mb(held)}, flood unread {mb(during)}, after reading it {mb(after)}")
print(f"  growth while unread: {mb(during - held)}; the bound per connection: cap {cap // 1024} KiB + one reply ({reply // 1024} KiB)")
print(f"  replies read: {got} bytes")
PY

if [ "${DETECTION:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then
  echo "dead-peer detection (a half-open holder in a network namespace, keepalive bound 6 s):"
  cargo test --quiet --features tcp-server --test lockd_keepalive -- --nocapture 2>&1 \
    | grep -E 'detected after|skipped' | sed 's/^/  /'
fi
