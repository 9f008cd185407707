// bus.batch(fn): the message wakes of this thread's sends inside fn are deferred, each parked
// receiver notified once when fn ends (js/host/owed.ts; abi.ts, THREAD_DEFER). What a batch
// changes is only when a parked receiver is notified: read through conn.stats().sleepers (a
// parked receive is counted there until a notify wakes it: js/host/sleepers.ts). The
// messages themselves are queued at each send, as without a batch.
import * as assert from 'uvu/assert';
import { Bus, BusError, MockProvider, abi as A, type Connection, type Message } from '../../js/index.ts';
import { busSuite, makeBus, ENGINE } from '../helpers/harness.ts';
import { prng, seedsFromEnv } from '../helpers/diffkit.ts';

const t = busSuite('batch: a burst\'s wake-ups deferred to its end', { limits: { threads: 4, connections: 24, poolMax: 262144, names: 16, matches: 16, replies: 16 } });
const wake = (c: Connection) => c.stats().sleepers.wake;
const tick = () => new Promise((r) => setTimeout(r, 1));
/** `p`, its rejection marked handled (a failed assertion before it is awaited must not crash the run with it) */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}
const SIG = { path: '/org/wasmbus/Batch', interface: 'org.wasmbus.Batch', member: 'Tick' };

t('a parked receiver stays parked through the batch, with every message queued, and is woken once at its end', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p = handled(b.recvAsync({ timeout: 5000 }));
  assert.is(wake(b), 1, 'parked and counted');
  const r = bus.batch(() => {
    a.sendText(b.id, 'one');
    assert.is(wake(b), 1, 'not notified at the send');
    a.sendText(b.id, 'two');
    a.sendText(b.id, 'three');
    assert.is(b.stats().queued, 3, 'each message queued at its send');
    assert.is(wake(b), 1);
    return 42;
  });
  assert.is(r, 42, 'batch returns what fn returns');
  assert.is(wake(b), 0, 'notified when the batch ended');
  const m = await p;
  assert.is(m.text(), 'one');
  m.free();
  for (const want of ['two', 'three']) {
    const n = b.recv()!;
    assert.is(n.text(), want);
    n.free();
  }
});

t('signals too: a parked subscriber is woken at the batch\'s end, and not before', async ({ bus }) => {
  const a = bus.connect(), s = bus.connect();
  s.addMatch(`type='signal',interface='${SIG.interface}'`);
  const p = handled(s.recvAsync({ timeout: 5000 }));
  bus.batch(() => {
    for (let i = 0; i < 5; i++) a.emit({ ...SIG, signature: 'u', body: [i] });
    assert.is(wake(s), 1, 'five signals queued, the subscriber still parked');
    assert.is(s.stats().queued, 5);
  });
  assert.is(wake(s), 0);
  const m = await p;
  assert.is(m.dbus!.header.member, 'Tick');
  m.free();
  for (let i = 1; i < 5; i++) s.recv()!.free();
});

t('a batch that throws wakes what it owes and throws fn\'s own error', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p = handled(b.recvAsync({ timeout: 5000 }));
  const boom = new Error('boom');
  try {
    bus.batch(() => {
      a.sendText(b.id, 'x');
      throw boom;
    });
    assert.unreachable('it throws');
  } catch (e) {
    assert.is(e, boom, 'the same error object');
  }
  assert.is(wake(b), 0, 'woken although fn threw');
  (await p).free();
});

t('nested batches: the outermost one wakes', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p = handled(b.recvAsync({ timeout: 5000 }));
  bus.batch(() => {
    bus.batch(() => a.sendText(b.id, 'inner'));
    assert.is(wake(b), 1, 'the inner batch\'s end leaves the wake to the outer one');
    a.sendText(b.id, 'outer');
  });
  assert.is(wake(b), 0);
  (await p).free();
  b.recv()!.free();
});

t(`more parked receivers than OWED_MAX (${A.OWED_MAX}): every one is woken at the end`, async ({ bus }) => {
  const a = bus.connect();
  const rs = Array.from({ length: A.OWED_MAX + 4 }, () => bus.connect());
  const ps = rs.map((r) => handled(r.recvAsync({ timeout: 5000 })));
  const idle = bus.connect(); // parked, and sent nothing: a wake with nothing new, which it survives
  const pi = handled(idle.recvAsync({ timeout: 5000 }));
  bus.batch(() => {
    for (const r of rs) a.sendText(r.id, `to ${r.id}`);
    assert.ok(rs.every((r) => wake(r) === 1), 'none woken inside');
  });
  assert.ok(rs.every((r) => wake(r) === 0), 'every one woken at the end');
  const ms: Message[] = await Promise.all(ps);
  ms.forEach((m, i) => { assert.is(m.text(), `to ${rs[i]!.id}`); m.free(); });
  // the idle receiver (woken past OWED_MAX, every parked receiver is) looked and parked again
  for (let i = 0; i < 50 && wake(idle) !== 1; i++) await tick();
  assert.is(wake(idle), 1, 'parked again, nothing received');
  a.sendText(idle.id, 'late');
  const late = await pi;
  assert.is(late.text(), 'late');
  late.free();
});

t('a wait that blocks inside a batch pays the wakes owed first', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const p = handled(b.recvAsync({ timeout: 5000 }));
  bus.batch(() => {
    a.sendText(b.id, 'x');
    assert.is(wake(b), 1);
    let blocked = true;
    try {
      assert.is(a.recvWait(1), null, 'nothing for a');
    } catch (e) {
      // (a thread that may not block: a browser page's main thread refuses recvWait)
      blocked = !(e instanceof BusError && e.code === 'EOPNOTSUPP');
    }
    if (blocked) assert.is(wake(b), 0, 'paid before the wait blocked');
  });
  assert.is(wake(b), 0);
  (await p).free();
});

t('a call made in a batch: the batch ends when fn returns its promise, and the call is answered', async ({ bus }) => {
  const a = bus.connect(), srv = bus.connect();
  const l = srv.listen((m) => { if (m.expectsReply) srv.reply(m, new Uint8Array([m.payload[0]! + 1])); });
  await tick();
  const reply = await bus.batch(() => a.call(srv.id, new Uint8Array([41]), { timeout: 5000 }));
  assert.is(reply.payload[0], 42);
  reply.free();
  l.stop();
  await l.done;
});

t('bad input: fn must be a function (EINVAL, nothing deferred); a closed Bus refuses (EBADF)', async () => {
  const { bus } = await makeBus();
  for (const bad of [undefined, null, 1, 'x', {}]) {
    try {
      bus.batch(bad as never);
      assert.unreachable('throws');
    } catch (e) {
      assert.instance(e, BusError);
      assert.is((e as BusError).code, 'EINVAL');
      assert.match((e as BusError).message, /^Bus\.batch: EINVAL: fn must be a function/);
    }
  }
  const a = bus.connect(), b = bus.connect();
  const p = handled(b.recvAsync({ timeout: 5000 }));
  a.sendText(b.id, 'after the refusals');
  assert.is(wake(b), 0, 'no batch left on: the send woke at once');
  (await p).free();
  a.close();
  b.close();
  bus.close();
  try {
    bus.batch(() => 1);
    assert.unreachable('throws');
  } catch (e) {
    assert.is((e as BusError).code, 'EBADF');
  }
});

t('a batch begun from a provider inside a command (this bus\'s or another\'s) is refused with EBUSY; the command goes on, nothing deferred', async () => {
  // (its start and end run the core's owed_pay, which must not run inside another command:
  // on the twin it would rebind the core to the other bus's memory under the running one)
  let arm: (() => void) | null = null;
  const got: string[] = [];
  class P extends MockProvider {
    override clock(id: number, out: Uint32Array): boolean {
      const f = arm;
      arm = null;
      if (f) { try { f(); got.push('ran'); } catch (e) { got.push(e instanceof BusError ? `${e.code} ${e.message.split(':')[0]}` : String(e)); } }
      return super.clock(id, out);
    }
  }
  const { bus } = await makeBus({ provider: new P() });
  const { bus: other } = await makeBus();
  const a = bus.connect(), b = bus.connect({ attachRecv: ['timestamp'] }), o = other.connect(), q = other.connect();
  let inner = 0;
  arm = () => { bus.batch(() => { inner++; }); };
  a.sendText(b.id, 'one'); // b's receive mask takes the timestamp: the clock is read in SEND
  arm = () => { other.batch(() => { inner++; }); };
  a.sendText(b.id, 'two');
  assert.equal(got, ['EBUSY engine', 'EBUSY engine']);
  assert.is(inner, 0, 'fn never ran');
  for (const want of ['one', 'two']) {
    const m = b.recv();
    assert.is(m?.text(), want, 'the sends went on');
    m?.free();
  }
  const p = handled(q.recvAsync({ timeout: 5000 }));
  o.sendText(q.id, 'not deferred');
  assert.is(wake(q), 0, 'the other bus\'s send woke at once: no batch left on');
  (await p).free();
  for (const c of [a, b]) c.close();
  for (const c of [o, q]) c.close();
  assert.equal(other.check(), []);
  other.close();
  bus.close();
});

t('bus.close() inside a batch: the batch ends quietly (the leave paid what was owed)', async () => {
  const { bus } = await makeBus();
  const a = bus.connect(), b = bus.connect();
  const r = bus.batch(() => {
    a.sendText(b.id, 'x');
    b.close({ drop: true });
    a.close();
    bus.close();
    return 'left';
  });
  assert.is(r, 'left');
  try {
    bus.batch(() => 1);
    assert.unreachable('throws');
  } catch (e) {
    assert.is((e as BusError).code, 'EBADF');
  }
});

// seeded: random sends (unicast and signals) from random senders to random receivers, some
// parked and some not, in and out of batches of random nesting; after each outermost batch no
// receiver with a message queued is still counted parked (every owed wake was paid), and every
// message arrives in order
for (const seed of seedsFromEnv([1, 2, 3, 4, 5, 6])) {
  t(`seeded ${seed}: every owed wake paid at the batch's end, every message delivered in order`, async ({ bus }) => {
    const g = prng(seed), rnd = () => g.next();
    const cs = Array.from({ length: 6 }, () => bus.connect());
    for (const c of cs) c.addMatch(`type='signal',interface='${SIG.interface}'`);
    const sent = new Map<number, string[]>(cs.map((c) => [c.id, []]));
    const got = new Map<number, string[]>(cs.map((c) => [c.id, []]));
    const parked = new Map<number, Promise<void>>();
    const take = (m: Message, c: Connection) => {
      got.get(c.id)!.push(m.dbus ? `sig ${m.dbus.body[0] as number}` : m.text());
      m.free();
    };
    const park = (c: Connection) => {
      if (parked.has(c.id)) return;
      parked.set(c.id, handled(c.recvAsync({ timeout: 5000 })).then((m) => { parked.delete(c.id); take(m, c); }));
    };
    let n = 0;
    const step = (depth: number) => {
      const k = Math.floor(rnd() * 10);
      const from = cs[Math.floor(rnd() * cs.length)]!;
      if (k < 5) {
        const to = cs[Math.floor(rnd() * cs.length)]!;
        if (to === from) return;
        const s = `msg ${n++}`;
        from.sendText(to.id, s);
        sent.get(to.id)!.push(s);
      } else if (k < 7) {
        const v = n++;
        from.emit({ ...SIG, signature: 'u', body: [v] });
        for (const c of cs) if (c !== from) sent.get(c.id)!.push(`sig ${v}`);
      } else if (k < 9 && depth < 3) {
        bus.batch(() => { for (let i = Math.floor(rnd() * 6); i > 0; i--) step(depth + 1); });
      }
    };
    for (let round = 0; round < 60; round++) {
      for (const c of cs) if (rnd() < 0.5 && c.stats().queued === 0) park(c);
      await tick();
      bus.batch(() => { for (let i = Math.floor(rnd() * 8); i > 0; i--) step(1); });
      for (const c of cs) {
        const st = c.stats();
        assert.ok(!(st.queued > 0 && st.sleepers.wake > 0), `seed ${seed} round ${round}: connection ${c.id} has ${st.queued} queued and is still counted parked`);
      }
      await Promise.all([...parked.values()].map((q) => Promise.race([q, tick()])));
      // drain what is queued where nothing is parked
      for (const c of cs) if (!parked.has(c.id)) for (let m = c.recv(); m; m = c.recv()) take(m, c);
    }
    for (let i = 0; i < 200 && parked.size; i++) {
      for (const c of cs) if (parked.has(c.id) && c.stats().queued > 0) await tick();
      if ([...parked.keys()].every((id) => cs.find((c) => c.id === id)!.stats().queued === 0)) break;
    }
    // the receives still parked (nothing came for them) end: a message of our own to each
    for (const c of cs) if (parked.has(c.id)) { cs[(cs.indexOf(c) + 1) % cs.length]!.sendText(c.id, 'end'); sent.get(c.id)!.push('end'); }
    await Promise.all([...parked.values()]);
    for (const c of cs) for (let m = c.recv(); m; m = c.recv()) take(m, c);
    for (const c of cs) assert.equal(got.get(c.id), sent.get(c.id), `seed ${seed}: connection ${c.id} got every message, in order`);
  });
}

t("a recovered thread that still runs, whose handle a new thread joined with into the same slot: its batch defers nothing of the new thread's (stop 65, an outside reading)", async ({ bus, mock }) => {
  // (the slot was found by its token alone: the old thread's batch set the new thread's defer
  // word, and the new thread's sends to a parked receiver waited for that batch's end)
  const h = bus.handle();
  const old = await Bus.join(h, { provider: mock, engine: ENGINE });
  assert.is(bus.recoverThread(h.token, { stopped: true }), 1, 'declared dead (it runs on)');
  const now = await Bus.join(h, { provider: mock, engine: ENGINE });
  const slot = now.engine.threadSlot;
  const base = bus.engine.u32[(A.BUS_BASE + A.BUS_THREADS) >>> 2] + slot * A.THREAD_SIZE;
  const word = (off: number) => bus.engine.u32[(base + off) >>> 2];
  const rx = bus.connect(), tx = now.connect();
  let inside: number[] = [];
  old.batch(() => {
    const before = word(A.THREAD_DEFER);
    tx.send(rx.id, new Uint8Array([1])); // the new thread's own send, in no batch of its own
    inside = [before, word(A.THREAD_DEFER), word(A.THREAD_OWED_N)];
  });
  assert.equal(inside, [0, 0, 0], "the new thread's defer word and owed wakes untouched");
  const m = rx.recv()!;
  m.free();
  tx.close(); rx.close();
  now.close();
  assert.throws(() => old.close(), (e: BusError) => e.code === 'ECONNRESET', 'the old thread learns it was recovered');
  assert.equal(bus.check(), []);
});

t.run();
