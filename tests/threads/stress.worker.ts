// A stress worker (issue 10): joins with the SAME uid as every other worker (threads of one
// process share one identity, so they share each receiver's per-user quota), then sends
// `count` messages to every other worker with sendAsync (backpressure, never a drop) while
// it receives theirs, checking per-sender order. Posts what it saw; every wait has a timeout.
import { Bus, BusError, MockProvider, type BusHandle, type EngineKind, type Message } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

export interface StressInput {
  handle: BusHandle;
  engine?: EngineKind;
  index: number;
  count: number;
  /** post { half: true } once this many messages were sent (the victim of the terminate variant) */
  halfAt?: number;
  /** the parent's connection id: its go may arrive after a peer's first messages */
  parent: number;
}

const WAIT_MS = 20000;
const errText = (e: unknown) => (e instanceof BusError ? `${e.code} ${e.message}` : String((e as Error)?.stack ?? e));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** payload: [sender index, seq, size filler...]; sizes vary so that both the message and the byte quota bind */
function payload(index: number, seq: number): Uint8Array {
  const size = 8 + ((seq * 797 + index * 131) % 1400);
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(0, index, true);
  v.setUint32(4, seq, true);
  for (let i = 8; i < size; i++) b[i] = (seq + i) & 0xff;
  return b;
}

const inp = await input<StressInput>();
try {
  const bus = await Bus.join(inp.handle, { engine: inp.engine, provider: new MockProvider({ seed: 100 + inp.index, creds: { uid: 1000 } }) });
  const conn = bus.connect({ poolSize: 65536, description: `stress-${inp.index}` });
  post({ ready: true, id: conn.id, engine: bus.engine.kind });
  // the parent's go: the ids of every worker, as JSON. A peer that got its go first may
  // already be sending to us: those messages are kept (unfreed, in order) and checked first.
  const early: Message[] = [];
  let go: Message;
  for (;;) {
    const m = await conn.recvAsync({ timeout: WAIT_MS });
    if (m.src === inp.parent) { go = m; break; }
    early.push(m);
  }
  const { ids, parent } = go.json() as { ids: number[]; parent: number };
  go.free();
  const others = ids.map((id, i) => ({ id, i })).filter((p) => p.i !== inp.index);
  const dead = new Set<number>();
  let sent = 0;
  const errors: string[] = [];

  const sender = (async () => {
    for (let seq = 0; seq < inp.count; seq++) {
      for (const p of others) {
        if (dead.has(p.id)) continue;
        for (;;) {
          try {
            await conn.sendAsync(p.id, payload(inp.index, seq), { timeout: WAIT_MS });
            sent++;
            break;
          } catch (e) {
            // a terminated peer: its connection is closed by recovery (ENXIO); EDEADLK while
            // its lock waits for the recovery
            if (e instanceof BusError && e.code === 'ENXIO') { dead.add(p.id); break; }
            if (e instanceof BusError && e.code === 'EDEADLK') { await sleep(5); continue; }
            throw e;
          }
        }
        if (inp.halfAt !== undefined && sent === inp.halfAt) post({ half: true });
      }
    }
    post({ sent });
  })();

  // receive until the parent's end (sent once every sender is done and any victim recovered)
  const next = new Map<number, number>(); // sender index -> next seq expected
  let received = 0;
  const receiver = (async () => {
    for (;;) {
      const m = early.length ? early.shift()! : await conn.recvAsync({ timeout: WAIT_MS });
      if (m.src === parent) { m.free(); break; }
      const p = m.payload;
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      const from = v.getUint32(0, true), seq = v.getUint32(4, true);
      const want = next.get(from) ?? 0;
      if (seq !== want) errors.push(`from ${from}: seq ${seq}, expected ${want}`);
      const ref = payload(from, seq);
      if (p.length !== ref.length || p.some((x, i) => x !== ref[i])) errors.push(`from ${from} seq ${seq}: bytes differ`);
      next.set(from, seq + 1);
      received++;
      m.free();
    }
  })();

  await Promise.all([sender, receiver]);
  const counts: Record<number, number> = {};
  for (const [k, v] of next) counts[k] = v;
  const poolUsed = conn.poolUsed, queued = conn.queued;
  conn.close();
  bus.close();
  post({ done: true, received, counts, errors, poolUsed, queued });
} catch (e) {
  post({ error: errText(e) });
}
