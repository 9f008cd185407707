// second-thread: a second thread on a bus's memory for a one-JS-thread conformance test (an
// engine joined with a handle of its own, as a worker's would be), and its raw ABI: what one
// thread cannot do alone (run a command while another thread's send is reserved, own a lock
// another thread waits on). The test ends it with `other.threadLeave()` (or recovers it).
import * as assert from 'uvu/assert';
import { WasmEngine, TwinEngine, loadCore, MockProvider, type Bus, type Engine } from '../../js/index.ts';
import { ENGINE } from './harness.ts';
import { Raw } from './raw.ts';

export async function secondThread(bus: Bus): Promise<{ other: Engine; raw2: Raw }> {
  const other = ENGINE === 'wasm' ? await WasmEngine.create(await loadCore(), bus.memory, new MockProvider({ seed: 3 })) : new TwinEngine(bus.memory, new MockProvider({ seed: 3 }));
  assert.ok(other.threadJoin(bus.handle().token) > 0);
  return { other, raw2: new Raw(other) };
}
