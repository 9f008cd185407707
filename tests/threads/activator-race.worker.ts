// A worker that takes a fresh well-known name at a moment of its own in each trial (while the
// main thread sends to it by name), then reports what it received under it.
import { Bus, BusError, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

export interface RaceInput { handle: BusHandle; ctl: SharedArrayBuffer; trials: number }

const inp = await input<RaceInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 17, creds: { uid: 3100 } }) });
  const conn = bus.connect({ poolSize: 2 << 20, description: 'race-owner' });
  const ctl = new Int32Array(inp.ctl);
  post({ ready: true, id: conn.id });
  for (let k = 0; k < inp.trials; k++) {
    // trial k begins when main stores k + 1 (bounded: main's own waits time out first)
    while (Atomics.load(ctl, 0) !== k + 1) if (Atomics.wait(ctl, 0, k, 20000) === 'timed-out') throw new Error(`trial ${k} never began`);
    // it tells main to start sending, then takes the name after a spin of main's choosing (ns)
    Atomics.store(ctl, 2, -(k + 1)); // main starts its sends now
    const until2 = performance.now() + Atomics.load(ctl, 1) / 1000;
    while (performance.now() < until2);
    const result = conn.requestName(`org.race.T${k}`);
    Atomics.store(ctl, 2, k + 1); // main sends until it sees this
    post({ acquired: result });
    const got: number[] = [];
    for (;;) {
      const m = await conn.recvAsync({ timeout: 15000 });
      const n = m.payload.length, first = n > 0 ? m.payload[0] | (m.payload[1] << 8) : -1;
      m.free();
      if (n === 0) break;
      got.push(first);
    }
    conn.releaseName(`org.race.T${k}`); // (its queue is empty: nothing goes back to the activator)
    post({ got });
  }
  conn.close();
  bus.close();
  post({ done: true });
} catch (e) {
  post({ error: e instanceof BusError ? `${e.code}: ${e.message}` : String((e as Error)?.stack ?? e) });
}
