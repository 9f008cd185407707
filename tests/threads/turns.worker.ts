// A sender for the fair-backpressure test (tests/threads/turns.test.ts): joins with uid 1000
// (the uid every sender shares, so they share the receiver's quota), then on each command
// from the parent: { send: id, text } starts a sendAsync (posting { sent } or { error } when
// it ends), { abort: true } aborts the pending one, { leave: true } closes and leaves;
// { sendN: id, n, timeout, step } starts n sendAsync at once, the k-th with timeout
// `timeout + k * step` ms, and posts { ended: [their outcomes] } once all have settled.
import * as wt from 'node:worker_threads';
import { Bus, BusError, MockProvider, type BusHandle, type EngineKind } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

type Cmd = { send: number; text: string } | { abort: true } | { leave: true } | { sendN: number; n: number; timeout: number; step: number };
const inp = await input<{ handle: BusHandle; engine?: EngineKind; index: number }>();
const bus = await Bus.join(inp.handle, { engine: inp.engine, provider: new MockProvider({ seed: 200 + inp.index, creds: { uid: 1000 } }) });
const conn = bus.connect({ poolSize: 65536, description: `turns-${inp.index}` });
post({ ready: true, id: conn.id });
let ac: AbortController | null = null;
const onCmd = (c: Cmd) => {
  if ('send' in c) {
    ac = new AbortController();
    conn.sendAsync(c.send, new TextEncoder().encode(c.text), { timeout: 20000, signal: ac.signal }).then(
      () => post({ sent: c.text }),
      (e) => post({ error: e instanceof BusError ? e.code : String(e) }),
    );
  } else if ('sendN' in c) {
    const ps: Promise<string>[] = [];
    for (let k = 0; k < c.n; k++) {
      ps.push(conn.sendAsync(c.sendN, new TextEncoder().encode(`n${k}`), { timeout: c.timeout + k * c.step }).then(() => 'sent', (e) => e instanceof BusError ? e.code : String(e)));
    }
    void Promise.all(ps).then((ended) => post({ ended }));
  } else if ('abort' in c) {
    ac?.abort();
  } else {
    conn.close();
    bus.close();
    post({ left: true });
    if (wt.parentPort) wt.parentPort.off('message', onCmd);
    else (globalThis as unknown as { close(): void }).close();
  }
};
if (wt.parentPort) wt.parentPort.on('message', onCmd);
else (globalThis as unknown as { onmessage: (ev: { data: Cmd }) => void }).onmessage = (ev) => onCmd(ev.data);
