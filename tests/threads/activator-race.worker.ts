// A worker that, in each trial, takes a fresh well-known name from its activator (mode 0) or
// gives it back to it (mode 1) at a moment of its own while the main thread sends to the
// name, then reports what it received under the name.
import { Bus, BusError, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';
import { GO, SPIN, STEP, MODE } from './activator-race.ctl.ts';

export interface RaceInput { handle: BusHandle; ctl: SharedArrayBuffer; trials: number }

const inp = await input<RaceInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 17, creds: { uid: 3100 } }) });
  const conn = bus.connect({ poolSize: 2 << 20, description: 'race-owner' });
  const ctl = new Int32Array(inp.ctl);
  post({ ready: true, id: conn.id });
  for (let k = 0; k < inp.trials; k++) {
    // trial k begins when main stores k + 1 (bounded: main's own waits time out first)
    while (Atomics.load(ctl, GO) !== k + 1) if (Atomics.wait(ctl, GO, k, 20000) === 'timed-out') throw new Error(`trial ${k} never began`);
    const name = `org.race.T${k}`, release = Atomics.load(ctl, MODE) === 1;
    if (release) conn.requestName(name); // it owns the name when main starts sending
    // main starts its sends now; the change comes after a spin of main's choosing
    Atomics.store(ctl, STEP, -(k + 1));
    const until = performance.now() + Atomics.load(ctl, SPIN) / 1000;
    while (performance.now() < until);
    const result = release ? (conn.releaseName(name), 'released') : conn.requestName(name);
    Atomics.store(ctl, STEP, k + 1);
    post({ changed: result });
    const got: number[] = [];
    for (;;) {
      const m = await conn.recvAsync({ timeout: 15000 });
      const n = m.payload.length, first = n > 0 ? m.payload[0] | (m.payload[1] << 8) : -1;
      m.free();
      if (n === 0) break;
      got.push(first);
    }
    if (!release) conn.releaseName(name); // (its queue is empty: nothing goes back to the activator)
    post({ got });
  }
  conn.close();
  bus.close();
  post({ done: true });
} catch (e) {
  post({ error: e instanceof BusError ? `${e.code}: ${e.message}` : String((e as Error)?.stack ?? e) });
}
