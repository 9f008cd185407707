// Names across threads: a service worker owns a name, the main thread sends to it by name;
// the worker is terminated and recovered (bus.watch), and the worker queued behind it gets
// the name and the next message.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BusError } from '../../js/index.ts';
import { spawn, terminateAll, RUNTIME, within } from '../helpers/worker.ts';
import { checkBus, checkNames } from '../helpers/check.ts';
import { ENGINE, threadBus, MSG_MS, READY_MS } from './common.ts';
import type { NameInput } from './name.worker.ts';

const s = suite(`threads: names [${ENGINE}, ${RUNTIME}]`);
s.after(terminateAll);

const WORKER = new URL('./name.worker.ts', import.meta.url);
const NAME = 'org.example.Service';
interface Ready { ready: true; id: number; slot: number; result: string; error?: string }

s('a terminated owner is recovered and its name passes to the worker queued behind it', async () => {
  const bus = await threadBus(ENGINE);
  const main = bus.connect();
  const hA = bus.handle();
  const a = spawn(WORKER, { handle: hA, name: NAME, index: 1 } satisfies NameInput, { kind: 'thread' });
  const ra = await a.next<Ready>(READY_MS, 'the service to join');
  assert.is(ra.error, undefined);
  assert.is(ra.result, 'primary');
  const watched = bus.watch(a.thread!, hA);
  const hB = bus.handle();
  const b = spawn(WORKER, { handle: hB, name: NAME, queue: true, index: 2 } satisfies NameInput, { kind: 'thread' });
  const rb = await b.next<Ready>(READY_MS, 'the queued worker to join');
  assert.is(rb.result, 'in-queue');
  assert.is(main.getNameOwner(NAME), ra.id);
  assert.equal(main.listNames(), [NAME]);

  main.send(NAME, new Uint8Array([1, 2, 3]));
  assert.equal(await a.next(MSG_MS, 'the owner gets it'), { got: [1, 2, 3], by: ra.id });

  await a.terminate();
  const r = await within(watched, MSG_MS, 'watch() after exit');
  assert.is(r.error, undefined, String(r.error));
  assert.is(bus.getNameOwner(NAME), rb.id, 'the queued worker owns the name now');
  // (the queued worker is live: a look of its wait may hold its own connection's lock for a
  // moment, as CI saw once under Deno, stop 45; a lock that stays held still fails the check)
  let issues = checkBus(bus.engine);
  for (let k = 0; k < 50 && issues.length > 0; k++) {
    await new Promise((r) => setTimeout(r, 10));
    issues = checkBus(bus.engine);
  }
  assert.equal(issues, []);
  assert.equal(checkNames(bus.engine), []);

  main.send(NAME, new Uint8Array([4, 5]));
  assert.equal(await b.next(MSG_MS, 'the new owner gets it'), { got: [4, 5], by: rb.id });
  main.send(NAME, null); // leave
  assert.equal(await b.next(MSG_MS, 'done'), { done: true });
  assert.is(main.nameHasOwner(NAME), false, 'the last owner left');
  try { main.send(NAME, null); assert.unreachable('no owner'); } catch (e) { assert.is((e as BusError).code, 'ESRCH'); }
  assert.equal(main.list({ names: true, queued: true }), []);
  main.close();
  bus.close();
});

s.run();
