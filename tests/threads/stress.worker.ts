// A stress worker (issue 10): joins with the SAME uid as every other worker (threads of one
// process share one identity, so they share each receiver's per-user quota), then sends
// `count` messages to every other worker with sendAsync (backpressure, never a drop) while
// it receives theirs, checking per-sender order. With `bcast`, it also broadcasts that many
// D-Bus signals (interleaved with its unicasts) and, when it `subscribes`, receives its peers'
// broadcasts through a match rule: per sender in order, never twice, any gap covered by the
// DROPPED_MSGS counts its receives reported (a broadcast finds no room: it is dropped, not
// waited for). Posts what it saw; every wait has a timeout.
import { Bus, BusError, MockProvider, abi as A, type BusHandle, type EngineKind, type Message } from '../../js/index.ts';
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
  /** broadcast this many signals (one after each round of unicasts, while seq < bcast) */
  bcast?: number;
  /** add the match rule for the stress signals (before it reports ready) */
  subscribes?: boolean;
}

export const STRESS_MATCH = "type='signal',interface='org.wasmbus.Stress',member='Tick'";

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

/** recvAsync, again after EDEADLK (a lock of a terminated peer, until its recovery: the victim variant) */
async function recv(conn: import('../../js/index.ts').Connection): Promise<Message> {
  for (;;) {
    try {
      return await conn.recvAsync({ timeout: WAIT_MS });
    } catch (e) {
      if (e instanceof BusError && e.code === 'EDEADLK') { await sleep(5); continue; }
      throw e;
    }
  }
}

const inp = await input<StressInput>();
try {
  const bus = await Bus.join(inp.handle, { engine: inp.engine, provider: new MockProvider({ seed: 100 + inp.index, creds: { uid: 1000 } }) });
  const conn = bus.connect({ poolSize: 65536, description: `stress-${inp.index}` });
  if (inp.subscribes) conn.addMatch(STRESS_MATCH);
  post({ ready: true, id: conn.id, engine: bus.engine.kind });
  // the parent's go: the ids of every worker, as JSON. A peer that got its go first may
  // already be sending to us: those messages are kept (unfreed, in order) and checked first.
  const early: Message[] = [];
  let go: Message;
  let dropped = 0; // DROPPED_MSGS reported to this receiver
  for (;;) {
    const m = await recv(conn);
    dropped += conn.lastDropped;
    if (m.src === inp.parent) { go = m; break; }
    early.push(m);
  }
  const { ids, parent } = go.json() as { ids: number[]; parent: number };
  go.free();
  const others = ids.map((id, i) => ({ id, i })).filter((p) => p.i !== inp.index);
  const dead = new Set<number>();
  let sent = 0, bsent = 0;
  const errors: string[] = [];
  const bcast = inp.bcast ?? 0;

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
      if (seq < bcast) {
        // a broadcast: delivered now into every matching receiver with room, dropped for the others
        for (;;) {
          try {
            conn.signal('/org/wasmbus/Stress', 'org.wasmbus.Stress', 'Tick', 'uu', [inp.index, seq]);
            bsent++;
            break;
          } catch (e) {
            if (e instanceof BusError && e.code === 'EDEADLK') { await sleep(5); continue; } // a dead peer's lock, until recovered
            throw e;
          }
        }
      }
    }
    post({ sent, bsent });
  })();

  // receive until the parent's end (sent once every sender is done and any victim recovered)
  const next = new Map<number, number>(); // sender index -> next seq expected
  const bnext = new Map<number, number>(); // broadcasts: sender index -> next seq expected
  const bfrom: Record<number, number> = {}; // broadcasts received per sender index
  let received = 0, breceived = 0, gaps = 0;
  const receiver = (async () => {
    for (;;) {
      let m: Message;
      if (early.length) m = early.shift()!;
      else {
        m = await recv(conn);
        dropped += conn.lastDropped;
      }
      if (m.src === parent) { m.free(); break; }
      if ((m.flags & A.MSG_SIGNAL) !== 0) {
        const d = m.dbus;
        const [from, seq] = (d?.body ?? []) as number[];
        if (!inp.subscribes || d?.header.member !== 'Tick' || typeof from !== 'number') errors.push(`an unexpected signal from ${m.src}`);
        else {
          const want = bnext.get(from) ?? 0;
          if (seq < want) errors.push(`broadcast from ${from}: seq ${seq} again or out of order, expected ${want}`);
          else gaps += seq - want; // dropped ones (checked against the DROPPED_MSGS total)
          bnext.set(from, seq + 1);
          bfrom[from] = (bfrom[from] ?? 0) + 1;
          breceived++;
        }
        m.free();
        continue;
      }
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
  post({ done: true, received, counts, errors, poolUsed, queued, breceived, bfrom, gaps, dropped });
  // stay connected until the parent's bye (sent once every worker reported): a close now would
  // send ID_REMOVE to peers still counting, and a notification that finds a receiver's lock
  // taken is counted in its DROPPED_MSGS whatever its rules (assembly/notify.ts)
  for (;;) {
    const m = await recv(conn);
    const fromParent = m.src === parent;
    m.free();
    if (fromParent) break;
  }
  conn.close();
  bus.close();
  post({ closed: true });
} catch (e) {
  post({ error: errText(e) });
}
