// A subscriber for tests/threads/lossless.test.ts: receives and frees as fast as it can
// (recvWait: its connection's lock is taken again and again, so the broadcaster meets it
// held), counts the signals and the losses reported (DROPPED_MSGS), publishes its count in
// the shared progress array, and stops at main's empty unicast (queued behind the signals).
import { Bus, BusError, MockProvider, PAYLOAD_DBUS, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

// With `prefix`, it counts the NAME_ADD and NAME_REMOVE notifications of names under it instead.
export interface LosslessInput { handle: BusHandle; index: number; iface: string; progress: SharedArrayBuffer; prefix?: string }

const inp = await input<LosslessInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 11 + inp.index }) });
  const conn = bus.connect({ description: `sub-${inp.index}` });
  if (inp.prefix) {
    conn.addMatch({ notifications: 'name-add' });
    conn.addMatch({ notifications: 'name-remove' });
  } else conn.addMatch(`type='signal',interface='${inp.iface}'`);
  const progress = new Int32Array(inp.progress);
  post({ ready: true, id: conn.id });
  let got = 0, dropped = 0;
  for (;;) {
    const m = conn.recvWait(10000);
    dropped += conn.lastDropped;
    if (!m) throw new Error(`no message within 10 s after ${got} signals`);
    const note = m.notification;
    const counted = inp.prefix
      ? note !== null && (note.kind === 'name-add' || note.kind === 'name-remove') && note.name.startsWith(inp.prefix)
      : m.payloadType === PAYLOAD_DBUS;
    const stop = note === null && m.payloadType !== PAYLOAD_DBUS && m.payload.length === 0;
    m.free();
    if (counted) Atomics.store(progress, inp.index, ++got);
    if (stop) break;
  }
  conn.close();
  bus.close();
  post({ done: true, got, dropped });
} catch (e) {
  post({ error: e instanceof BusError ? `${e.code}: ${e.message}` : String((e as Error)?.stack ?? e) });
}
