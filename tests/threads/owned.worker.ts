// A worker that takes a well-known name from its owner (REPLACE_EXISTING) and gives it back
// (the owner, queued, gets it again), three changes a round, a round each time the parent
// raises the shared counter, until the counter reads STOP: the owner's messages meanwhile must carry the name
// exactly when the notifications say it owns it (tests/threads/owned.test.ts).
import { Bus, BusError, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

export interface OwnedInput { handle: BusHandle; name: string; go: SharedArrayBuffer }
/** the counter's value that ends the loop (owned.test.ts writes it) */
const STOP = -1;

const inp = await input<OwnedInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 77 }) });
  const conn = bus.connect({ description: 'taker' });
  const go = new Int32Array(inp.go);
  post({ ready: true, id: conn.id });
  let rounds = 0, owns = false;
  for (;;) {
    // wait (bounded) for the parent's next round
    while (Atomics.load(go, 0) === rounds) Atomics.wait(go, 0, rounds, 1000);
    if (Atomics.load(go, 0) === STOP) break;
    // 3 changes a round, racing with the parent's burst of sends: taken, given back, taken
    // (odd rounds), or given back, taken, given back (even rounds); few enough notifications
    // a round that the receiver's quota never drops one
    for (let k = 0; k < 3; k++) {
      if (owns) conn.releaseName(inp.name);
      else conn.requestName(inp.name, { replaceExisting: true });
      owns = !owns;
    }
    rounds++;
  }
  conn.close(); // (still owning the name after an odd number of rounds: closing gives it back)
  bus.close();
  post({ done: true, rounds });
} catch (e) {
  post({ error: e instanceof BusError ? e.code : String((e as Error)?.stack ?? e) });
}
