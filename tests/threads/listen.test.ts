// conn.listen across threads: a worker's listener takes bursts from main (sendAsync: waiting
// for room, never failing), in order, none lost, its pool empty at the end, and a stop.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { terminateAll, RUNTIME } from '../helpers/worker.ts';
import { ENGINE, threadBus, peer, MSG_MS } from './common.ts';

const s = suite(`threads: listen [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

s('a worker listener takes bursts of 1, 16 and 256 from main in order, none lost, and stops', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const ACK = 16;
  const { w, ready } = await peer(bus, { role: 'listen', count: ACK });
  let seq = 0;
  const send = async (n: number, size: number) => {
    for (let i = 0; i < n; i++) {
      const p = new Uint8Array(size);
      new DataView(p.buffer).setUint32(0, seq++, true);
      await main.sendAsync(ready.id, p, { timeout: MSG_MS });
    }
  };
  for (const [burst, size] of [[1, 8], [16, 64], [256, 64], [256, 1024], [16, 8192]] as const) {
    for (let r = 0; r < 4; r++) await send(burst, size);
  }
  // every ACK-th message was acknowledged: take them all (the last may still be on its way)
  let acks = 0;
  const want = Math.floor(seq / ACK);
  while (acks < want) {
    const m = await main.recvAsync({ timeout: MSG_MS });
    assert.is(m.payload.length, 1);
    m.free();
    acks++;
  }
  main.send(ready.id, null); // stop
  const end = await w.next<{ done?: boolean; received: number; expect: number; bad: number; pool: number; error?: string }>(MSG_MS, 'the listener to stop');
  assert.ok(end.done, end.error);
  assert.is(end.bad, -1, 'in order');
  assert.is(end.expect, seq, 'none lost');
  assert.is(end.received, seq + 1, 'each message once (and the stop)');
  assert.is(end.pool, 0, 'every slice freed');
  main.close();
  bus.close();
});

s.run();
