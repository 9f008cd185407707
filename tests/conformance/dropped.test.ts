// DROPPED_MSGS through the waiting receives (issue 10, the stress test's broadcast rows): a
// count that a RECV reports while it finds the queue empty (recvAsync / recvWait before they
// wait) is not lost: it reaches conn.lastDropped with the message that ends the wait.
import * as assert from 'uvu/assert';
import type { Connection, Message } from '../../js/index.ts';
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

t.run();
