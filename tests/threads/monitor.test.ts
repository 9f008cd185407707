// A monitor under concurrent traffic: WORKERS workers send COUNT messages each to one receiver
// on the main thread, while a monitor on the main thread copies them (each copy taken under the
// receiver's lock, the monitor's lock tried). The receiver gets every message once, in order
// per sender; the monitor gets copies in the same order per sender, never one twice, and every
// copy it lacks is counted as dropped (its quota is the senders' one per user: it fills up
// while the main thread is busy).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { terminateAll, RUNTIME } from '../helpers/worker.ts';
import { checkBus, checkNames } from '../helpers/check.ts';
import { ENGINE, threadBus, peer, type Peer, READY_MS } from './common.ts';

const WORKERS = 4;
const COUNT = 400;
const SIZE = 32;

const s = suite(`threads: monitor [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

s(`${WORKERS} workers × ${COUNT} messages, a monitor copying them: copies in order, none twice, the rest counted`, async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const mon = bus.connect({ monitor: true });
  const peers: Peer[] = await Promise.all(Array.from({ length: WORKERS },
    (_, i) => peer(bus, { role: 'sender', index: i, dst: main.id, count: COUNT, size: SIZE })));
  const byId = new Map(peers.map((p, i) => [p.ready.id, i]));
  // the ID_ADDs of the peers' connections
  let notes = 0;
  for (let m = mon.recv(); m; m = mon.recv()) { assert.ok(m.notification); notes++; m.free(); }
  assert.is(notes, WORKERS);
  for (const p of peers) main.send(p.ready.id, null); // go (copied too: from main to the peer)
  const next = new Array<number>(WORKERS).fill(0);
  const seen = new Array<number>(WORKERS).fill(-1);
  let copies = 0, gos = 0, dropped = 0;
  const takeCopies = () => {
    for (;;) {
      const m = mon.recv();
      dropped += mon.lastDropped;
      if (!m) return;
      if (m.src === main.id) { gos++; m.free(); continue; }
      if (m.notification) { m.free(); continue; } // a peer that finished: its ID_REMOVE
      const i = byId.get(m.src);
      assert.ok(i !== undefined, `a copy from a sender (${m.src})`);
      assert.is(m.dst, main.id, 'addressed to the receiver');
      const seq = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).getUint32(4, true);
      assert.ok(seq > seen[i], `sender ${i}: copies in order, none twice (${seq} after ${seen[i]})`);
      seen[i] = seq;
      copies++;
      m.free();
    }
  };
  const deadline = performance.now() + READY_MS;
  let total = 0;
  while (total < WORKERS * COUNT) {
    const m = await main.recvAsync({ timeout: Math.max(1, deadline - performance.now()) });
    const i = byId.get(m.src)!;
    const seq = new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).getUint32(4, true);
    assert.is(seq, next[i], `sender ${i}: in order, none lost, none twice`);
    m.free();
    next[i]++;
    total++;
    if (total % 16 === 0) takeCopies();
  }
  const done = await Promise.all(peers.map((p) => p.w.next<{ done?: boolean; error?: string }>(READY_MS, 'sender done')));
  for (const d of done) assert.ok(d.done, d.error);
  takeCopies();
  assert.ok(copies > 0, 'the monitor got copies');
  // a copy lost to a full pool or a lock that stayed contended (DIFFERENCES.md G7) is counted:
  // the go messages' copies like the others
  assert.ok(gos <= WORKERS, 'no go message copied twice');
  assert.is(gos + copies + dropped, WORKERS + WORKERS * COUNT, `every message (go or sent) copied or counted as dropped (${gos} gos, ${copies} copies, ${dropped} dropped)`);
  assert.equal(checkBus(bus.engine), []);
  assert.equal(checkNames(bus.engine), []);
  main.close();
  for (;;) { const m = mon.recv(); if (!m) break; m.free(); } // the ID_REMOVEs of the peers that left
  mon.close();
  bus.close();
});

s.run();
