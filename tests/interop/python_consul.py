"""Interop: python-consul 1.1.0 or py-consul 1.8.0 (whichever `consul` module is on sys.path)
against lockd's HTTP API. Usage: PYTHONPATH=<install dir> WATCH_KEY=<key> python3
python_consul.py PORT NAME; the caller writes "v2" to WATCH_KEY once a query parks on it.
With CONSUL_CACERT=<CA file> it speaks HTTPS to localhost:PORT, checking the server's
certificate against that CA."""
import os
import sys
import time

import consul

port, name = int(sys.argv[1]), sys.argv[2]
run = "%s-%x" % (name, int(time.time() * 1000))  # keys of this run
if os.environ.get("CONSUL_CACERT"):
    c = consul.Consul(host="localhost", port=port, scheme="https", verify=os.environ["CONSUL_CACERT"])
else:
    c = consul.Consul(host="127.0.0.1", port=port)

# Lower-case session fields (python sends `lockdelay`, `behavior`, `ttl`).
a = c.session.create(name="a", lock_delay=0, behavior="delete", ttl=30)
b = c.session.create(name="b", lock_delay=0)
_, info = c.session.info(a)
assert info["LockDelay"] == 0 and info["Behavior"] == "delete" and info["TTL"] == "30s", info
assert info["Name"] == "a"

key = run + "/lock"
index, missing = c.kv.get(key)
assert missing is None and int(index) >= 1, (index, missing)
assert c.kv.put(key, "one", acquire=a) is True
assert c.kv.put(key, "two", acquire=b) is False, "contended acquire"
_, entry = c.kv.get(key)
assert entry["Session"] == a and entry["Value"] == b"one", entry
assert c.kv.put(key, None, release=a) is True
assert c.kv.put(key, "two", acquire=b) is True, "acquire after release"
c.session.destroy(b)
_, entry = c.kv.get(key)
assert "Session" not in entry, "destroy frees the lock"
assert c.kv.put(key, "three", acquire=a) is True
c.session.destroy(a)
index, gone = c.kv.get(key)
assert gone is None, "delete behaviour removes the key"

# Renew after destroy raises NotFound.
try:
    c.session.renew(a)
    raise AssertionError("renew of a destroyed session succeeded")
except consul.NotFound:
    pass

# A blocking get woken by a put: the test harness writes "v2" to WATCH_KEY once it sees this
# query parked on the server.
watched = os.environ["WATCH_KEY"]
c.kv.put(watched, "v1")
index, _ = c.kv.get(watched)
new_index, entry = c.kv.get(watched, index=index, wait="60s")
assert int(new_index) > int(index) and entry["Value"] == b"v2", (index, new_index, entry)

# recurse, keys and consistency flags as python sends them.
listed_key = run + "/listed"
c.kv.put(listed_key, "x")
_, listed = c.kv.get(run + "/", recurse=True, consistency="consistent")
assert [e["Key"] for e in listed] == [listed_key], listed
_, keys = c.kv.get(run + "/", keys=True, separator="/")
assert keys == [listed_key], keys
assert c.kv.delete(run + "/", recurse=True) is True
print("%s: ok" % name)
