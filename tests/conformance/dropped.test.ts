// DROPPED_MSGS through the waiting receives (issue 10, the stress test's broadcast rows): a
// count that a RECV reports while it finds the queue empty (recvAsync / recvWait before they
// wait) is not lost: it reaches conn.lastDropped with the message that ends the wait.
import * as assert from 'uvu/assert';
import { abi as A, type BusError, type Connection, type Message } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('dropped');

/** Fill b's pool with received, unfreed messages from s (until EXFULL), broadcast once (dropped for b), free them. */
function dropOne(s: Connection, b: Connection): void {
  const kept: Message[] = [];
  for (;;) {
    try { s.send(b.id, new Uint8Array(1500)); } catch { break; }
    kept.push(b.recv()!);
  }
  s.signal('/a', 'org.ex.Drop', 'Tick');
  for (const m of kept) m.free();
}

t('recvAsync: a drop reported while the queue was empty comes with the next message', async ({ bus }) => {
  const s = bus.connect(), b = bus.connect({ poolSize: 16384 });
  b.addMatch("type='signal',interface='org.ex.Drop'");
  dropOne(s, b);
  const p = b.recvAsync({ timeout: 10000 }); // its first RECV finds the queue empty and reports the drop
  await new Promise((r) => setTimeout(r, 5));
  s.sendText(b.id, 'after');
  const m = await p;
  assert.is(m.text(), 'after');
  assert.is(b.lastDropped, 1, 'the dropped broadcast is counted');
  m.free();
  s.close(); b.close();
});

t('recvWait: a drop reported by an empty RECV comes with the null at the timeout', ({ bus }) => {
  const s = bus.connect(), b = bus.connect({ poolSize: 16384 });
  b.addMatch("type='signal',interface='org.ex.Drop'");
  dropOne(s, b);
  assert.is(b.recvWait(1), null);
  assert.is(b.lastDropped, 1);
  assert.is(b.recvWait(0), null);
  assert.is(b.lastDropped, 0, 'reported once');
  s.close(); b.close();
});

t('lastDropped under listen and for await: the drops a batch was told go with its first message only, and those of a look that found the queue empty with the next message (stop 65, an outside reading)', async ({ bus }) => {
  // a batch with a drop: the sum over its messages is 1 (it was 1 per message of the batch)
  for (const mode of ['recvAsync', 'listen', 'forawait'] as const) {
    const s = bus.connect(), b = bus.connect({ poolSize: 16384 });
    b.addMatch("type='signal',interface='org.ex.Drop'");
    let n = 0;
    for (;;) { try { s.send(b.id, new Uint8Array(100)); n++; } catch { break; } }
    s.signal('/a', 'org.ex.Drop', 'Tick'); // dropped: b's quota for s's user is full
    let sum = 0, got = 0;
    if (mode === 'recvAsync') {
      while (got < n) { const m = await b.recvAsync({ timeout: 5000 }); assert.is(m.dropped, b.lastDropped); sum += m.dropped; got++; m.free(); }
    } else if (mode === 'listen') {
      await new Promise<void>((res) => { const l = b.listen((m) => { assert.is(m.dropped, b.lastDropped); sum += m.dropped; if (++got === n) { l.stop(); res(); } }); });
    } else {
      for await (const m of b.messages({ timeout: 5000 })) { assert.is(m.dropped, b.lastDropped); sum += m.dropped; if (++got === n) break; }
    }
    assert.ok(n > 1);
    assert.equal([mode, sum, b.droppedTotal], [mode, 1, 1]);
    s.close(); b.close();
  }
  // a listener whose first look finds the queue empty and is told of a drop: its next message carries it
  for (const mode of ['recvAsync', 'listen', 'forawait'] as const) {
    const s = bus.connect(), b = bus.connect({ poolSize: 16384 });
    b.addMatch("type='signal',interface='org.ex.Drop'");
    dropOne(s, b);
    let seen = -1;
    const got = mode === 'recvAsync'
      ? b.recvAsync({ timeout: 5000 }).then((m) => { seen = b.lastDropped; m.free(); })
      : mode === 'listen'
        ? new Promise<void>((res) => { const l = b.listen(() => { seen = b.lastDropped; l.stop(); res(); }); })
        : (async () => { for await (const _ of b.messages({ timeout: 5000 })) { seen = b.lastDropped; break; } })();
    await new Promise((r) => setTimeout(r, 20)); // (its empty look first)
    s.sendText(b.id, 'after');
    await got;
    assert.equal([mode, seen, b.droppedTotal], [mode, 1, 1]);
    s.close(); b.close();
  }
});

t("stats().dropped counts the drops at a lock held too (CONN_KMSG_LOST), as the next receive reports them (stop 65, an outside reading)", ({ bus, e }) => {
  const s = bus.connect(), b = bus.connect();
  b.addMatch("type='signal',interface='org.ex.Drop'");
  const lock = (e.connAddr(b.slot) + A.CONN_LOCK) >>> 2;
  const holder = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2]; // the last thread slot's id: not LIVE here
  Atomics.store(e.i32, lock, holder);
  try {
    s.signal('/a', 'org.ex.Drop', 'Tick'); // passed over at b: lost for b
  } finally {
    Atomics.store(e.i32, lock, 0);
  }
  assert.is(b.stats().dropped, 1);
  assert.is(bus.stats().connections.find((c) => c.slot === b.slot)!.dropped, 1);
  assert.is(b.recv(), null);
  assert.is(b.lastDropped, 1);
  assert.is(b.stats().dropped, 0);
  s.close(); b.close();
});

t('a drop told to a batched look that found the queue empty, whose wait then ends without a message (abort, return(), stop()): the next receive reports it (stop 65, a review)', async ({ bus }) => {
  for (const mode of ['forawait+abort', 'forawait+return', 'listen-stop'] as const) {
    const s = bus.connect(), b = bus.connect({ poolSize: 16384 });
    b.addMatch("type='signal',interface='org.ex.Drop'");
    dropOne(s, b);
    const ac = new AbortController();
    if (mode === 'forawait+abort') {
      const p = (async () => { for await (const _ of b.messages({ signal: ac.signal })) break; })().catch((e: BusError) => e.code);
      await new Promise((r) => setTimeout(r, 10)); ac.abort();
      assert.is(await p, 'ECANCELED');
    } else if (mode === 'forawait+return') {
      const it = b.messages();
      const p = it.next();
      await new Promise((r) => setTimeout(r, 10)); await it.return!(); await p;
    } else {
      const l = b.listen(() => {});
      await new Promise((r) => setTimeout(r, 10)); l.stop(); await l.done;
    }
    assert.is(b.recv(), null);
    assert.equal([mode, b.lastDropped, b.droppedTotal], [mode, 1, 1]);
    s.close(); b.close();
  }
});

t('Message.dropped: receives pending at once each keep the count told with their own message, where lastDropped is the last one set (stop 69)', async ({ bus }) => {
  const s = bus.connect(), b = bus.connect({ poolSize: 16384 });
  b.addMatch("type='signal',interface='org.ex.Drop'");
  dropOne(s, b);
  const p1 = b.recvAsync({ timeout: 5000 }); // its first look is told of the drop
  const p2 = b.recvAsync({ timeout: 5000 });
  await new Promise((r) => setTimeout(r, 5));
  s.sendText(b.id, 'a'); s.sendText(b.id, 'b');
  const [m1, m2] = await Promise.all([p1, p2]);
  assert.equal([m1.text(), m1.dropped, m2.text(), m2.dropped], ['a', 1, 'b', 0]);
  assert.is(b.lastDropped, 0, 'lastDropped: the last receive\'s');
  m1.free(); m2.free();
  assert.is(m1.dropped, 1, 'readable after free()');
  // recv(), recvWait() and a peek carry theirs too; a reply reads 0
  dropOne(s, b);
  s.sendText(b.id, 'c');
  const pk = b.recv({ peek: true })!;
  assert.is(pk.dropped, 1, 'the peek was told');
  pk.free();
  const c = b.recv()!;
  assert.equal([c.text(), c.dropped], ['c', 0]);
  c.free();
  dropOne(s, b);
  s.sendText(b.id, 'd');
  const d = b.recvWait(1000)!;
  assert.equal([d.text(), d.dropped, b.droppedTotal], ['d', 1, 3]);
  d.free();
  s.close(); b.close();
});

t('a peek of a message a batch took reads 0 dropped (no RECV told it anything): the batch\'s count goes with its first message only, summed once (it repeated the last receive\'s, a review of stop 69)', async ({ bus }) => {
  for (const how of ['recv', 'recvAsync'] as const) {
    const s = bus.connect(), b = bus.connect({ poolSize: 16384 });
    b.addMatch("type='signal',interface='org.ex.Drop'");
    let n = 0;
    for (;;) { try { s.send(b.id, new Uint8Array(100)); n++; } catch { break; } }
    s.signal('/a', 'org.ex.Drop', 'Tick'); // dropped: b's quota for s's user is full
    let sum = 0;
    for await (const m of b.messages({ timeout: 5000 })) { sum += m.dropped; break; } // (the batch's other messages stay taken)
    const pk = how === 'recv' ? b.recv({ peek: true })! : await b.recvAsync({ peek: true, timeout: 5000 });
    assert.equal([how, pk.dropped, b.lastDropped], [how, 0, 0], 'the peek was told nothing');
    pk.free();
    for (let got = 1; got < n; got++) { const m = b.recv()!; sum += m.dropped; m.free(); }
    assert.equal([how, sum, b.droppedTotal], [how, 1, 1]);
    s.close(); b.close();
  }
});

t.run();
