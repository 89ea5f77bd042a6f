// Interop: the npm `consul` client (node-consul 2.0.1, and 0.13.0 as consul-locker uses it)
// against lockd's HTTP API. Usage: WATCH_KEY=<key> node node_consul.js PORT (modules from
// target/interop/node); the caller writes "v2" to WATCH_KEY once a query parks on it.
"use strict";
const assert = require("assert");
const path = require("path");
const modules = path.join(__dirname, "../../target/interop/node/node_modules");
const Consul2 = require(path.join(modules, "consul2"));
const Consul013 = require(path.join(modules, "consul013"));
const port = process.argv[2];
const run = Date.now().toString(36); // keys of this run: reruns against one server do not collide

async function nodeConsul2() {
  const consul = new Consul2({ host: "127.0.0.1", port });
  const a = (await consul.session.create({ name: "a", lockdelay: "0s" })).ID;
  const b = (await consul.session.create({ name: "b", lockdelay: "0s", ttl: "30s" })).ID;
  assert.ok(a && b, "session create yields an ID");
  const key = `app/${run}/lock`;
  assert.strictEqual(await consul.kv.set({ key, value: "one", acquire: a }), true);
  // node-consul 2.0.1 resolves a JSON `false` as undefined (papi 1.x drops falsy values), so
  // only `true` means acquired.
  assert.notStrictEqual(await consul.kv.set({ key, value: "two", acquire: b }), true, "contended acquire");
  const held = await consul.kv.get(key);
  assert.strictEqual(held.Session, a);
  assert.strictEqual(held.Value, "one");
  assert.strictEqual(await consul.kv.set({ key, value: "", release: a }), true);
  assert.strictEqual(await consul.kv.set({ key, value: "two", acquire: b }), true, "acquire after release");
  await consul.session.destroy(b);
  assert.strictEqual((await consul.kv.get(key)).Session, undefined, "destroy frees the lock");
  assert.strictEqual(await consul.kv.set({ key, value: "three", acquire: a }), true);
  assert.strictEqual(await consul.kv.get("no/such/key"), undefined);
  const info = await consul.session.info(a);
  assert.strictEqual(info.ID, a);
  assert.strictEqual(info.Name, "a");

  // A blocking read woken by a change: the test harness writes "v2" to WATCH_KEY once it sees
  // this query parked on the server.
  const watched = process.env.WATCH_KEY;
  await consul.kv.set(watched, "v1");
  const res = await consul.kv.get({ key: watched });
  const woke = await consul.kv.get({ key: watched, index: res.ModifyIndex, wait: "60s" });
  assert.strictEqual(woke.Value, "v2");
  assert.ok(woke.ModifyIndex > res.ModifyIndex);
  await consul.session.destroy(a);
  console.log("node-consul 2.0.1: ok");
}

function cb(fn) {
  return new Promise((resolve, reject) => fn((err, data) => (err ? reject(err) : resolve(data))));
}

// consul-locker's calls (spec §9.1) on node-consul 0.13 / papi 0.19.
function locker(name) {
  const consul = new Consul013({ host: "127.0.0.1", port });
  let sid;
  const key = (id) => `${name}/${id}/lock`;
  return {
    async start() {
      sid = (await cb((done) => consul.session.create({ lockdelay: "0s", name }, done))).ID;
      assert.ok(sid, "no session ID (is the answer typed application/json?)");
      return sid;
    },
    async lock(id) {
      const ok = await cb((done) =>
        consul.kv.set({ key: key(id), value: JSON.stringify({ pid: process.pid }), acquire: sid }, done));
      return ok !== false;
    },
    release: (id) => cb((done) => consul.kv.set({ key: key(id), value: "", release: sid }, done)),
    stop: () => cb((done) => consul.session.destroy(sid, done)),
    info: (id) => cb((done) => consul.kv.get(key(id), done)),
    sessionInfo: (id) => cb((done) => consul.session.info(id, done)),
    cleanup: () => cb((done) => consul.kv.del({ key: `${name}/`, recurse: true }, done)),
  };
}

async function consulLocker() {
  const one = locker(`lockingCardWrites${run}`);
  const two = locker(`lockingCardWrites${run}`);
  const s1 = await one.start();
  const s2 = await two.start();
  assert.strictEqual(await one.lock("card-1"), true);
  assert.strictEqual(await two.lock("card-1"), false, "Already locked (a text 'false' means a bad Content-Type)");
  const info = await one.info("card-1");
  assert.strictEqual(info.Session, s1);
  assert.strictEqual(JSON.parse(info.Value).pid, process.pid);
  const sinfo = await one.sessionInfo(s1);
  assert.strictEqual(sinfo.ID, s1);
  assert.strictEqual(sinfo.Name, `lockingCardWrites${run}`);
  await one.release("card-1");
  assert.strictEqual(await two.lock("card-1"), true, "re-acquire after release");
  await two.stop();
  await two.stop(); // sometimes sent twice
  assert.strictEqual(await one.lock("card-1"), true, "immediate takeover after stop() (LockDelay 0s)");
  assert.strictEqual(await one.info("nothing"), undefined);
  assert.strictEqual(await one.sessionInfo(s2), undefined);
  await one.cleanup();
  assert.strictEqual(await one.info("card-1"), undefined);
  await one.stop();
  console.log("consul-locker calls on node-consul 0.13.0: ok");
}

(async () => {
  await nodeConsul2();
  await consulLocker();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
