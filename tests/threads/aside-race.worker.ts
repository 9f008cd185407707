// aside-race worker: closes (a raw BYEBYE with the handle, as any thread holding it may) a
// connection of the main thread at a moment main chooses, racing main's send_abandon or next
// staging of that connection (aside-race.test.ts).
import { Bus, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';
import { Raw } from '../helpers/raw.ts';
import { GO, SLOT, GEN, SPIN, DONE, RESULT, FLAGS } from './aside-race.ctl.ts';

export interface RaceIn { handle: BusHandle; ctl: SharedArrayBuffer }
/** How long the worker waits for main's next GO before it gives up. */
const GO_MS = 20000;

const inp = await input<RaceIn>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 17 }) });
  const e = bus.engine, raw = new Raw(e), ctl = new Int32Array(inp.ctl);
  post({ ready: true, slot: e.threadSlot });
  for (let k = 1; ; k++) {
    const end = performance.now() + GO_MS;
    let go: number;
    while ((go = Atomics.load(ctl, GO)) !== k && go >= 0) if (performance.now() > end) throw new Error(`no GO for trial ${k}`);
    if (go < 0) break;
    raw.writeByebye(ctl[FLAGS]!);
    const until = performance.now() + ctl[SPIN]! / 1e6;
    while (performance.now() < until);
    Atomics.store(ctl, RESULT, e.byebye(ctl[SLOT]!, ctl[GEN]!));
    Atomics.store(ctl, DONE, k);
  }
  bus.close();
  post({ done: true });
} catch (err) {
  post({ error: String((err as Error)?.stack ?? err) });
}
