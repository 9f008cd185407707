// Many threads: WORKERS workers each send COUNT messages to one receiver on the main thread
// at the same time. No loss, no duplication, order per sender kept, every byte as sent.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { terminateAll, RUNTIME } from '../helpers/worker.ts';
import { ENGINE, threadBus, peer, type Peer, READY_MS } from './common.ts';
import { senderPayload } from './payload.ts';

const WORKERS = 8;
const COUNT = 1000;
const SIZE = 48;

const s = suite(`threads: many [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

s(`${WORKERS} workers × ${COUNT} messages to one receiver: no loss, no duplicate, order per sender`, async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  // they start and join at the same time, then wait for their go
  const peers: Peer[] = await Promise.all(Array.from({ length: WORKERS },
    (_, i) => peer(bus, { role: 'sender', index: i, dst: main.id, count: COUNT, size: SIZE })));
  const byId = new Map(peers.map((p, i) => [p.ready.id, i]));
  for (const p of peers) main.send(p.ready.id, null); // go
  const next = new Array<number>(WORKERS).fill(0);
  const deadline = performance.now() + READY_MS;
  let total = 0;
  while (total < WORKERS * COUNT) {
    const m = await main.recvAsync({ timeout: Math.max(1, deadline - performance.now()) });
    const i = byId.get(m.src);
    assert.ok(i !== undefined, `from a sender (${m.src})`);
    const p = m.payload;
    const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const index = dv.getUint32(0, true), seq = dv.getUint32(4, true);
    assert.is(index, i, 'the payload names its sender');
    assert.is(seq, next[i], `sender ${i}: in order, none lost, none twice`);
    assert.is(m.cookie, seq + 1);
    assert.equal([...p], [...senderPayload(i, seq, SIZE)], 'every byte');
    m.free();
    next[i]++;
    total++;
  }
  assert.equal(next, new Array(WORKERS).fill(COUNT));
  const done = await Promise.all(peers.map((p) => p.w.next<{ done?: boolean; error?: string; retries?: number }>(READY_MS, 'sender done')));
  for (const d of done) assert.ok(d.done, d.error);
  assert.is(main.recv(), null, 'nothing more');
  assert.is(main.poolUsed, 0);
  main.close();
  bus.close();
});

s.run();
