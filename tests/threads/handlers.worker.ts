// A worker for the handlers thread tests (handlers.test.ts). Roles:
//   'sub'     subscribes with its rule (onSignal), then serves its queue: D-Bus messages go to
//             dispatch; raw commands: 'emit' (broadcast org.example.Foo.Changed('x'), then post
//             { emitted }), 'report' (post what its handler saw, leave)
//   'service' owns org.example.Calc, exports Add / Boom / Later / Hang on /org/example/Calc
//             and dispatches until the raw command 'stop'
//   'client'  finds org.example.Calc by name and calls Add, Missing, Boom (callMethod), and
//             Add with callMethodSync; posts each outcome
// Every wait has a timeout.
import { Bus, BusError, DBusError, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

export interface HandlersInput { role: 'sub' | 'service' | 'client'; handle: BusHandle; name?: string; rule?: string }
const errText = (e: unknown) => (e instanceof DBusError ? `${e.errorName}: ${e.message}` : e instanceof BusError ? e.code : String((e as Error)?.stack ?? e));
const WAIT = 15000;

const inp = await input<HandlersInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 3 }) });
  const conn = bus.connect({ description: inp.name ?? inp.role });
  if (inp.role === 'sub') {
    const got: string[] = [];
    conn.onSignal(inp.rule!, (sig) => got.push(`${sig.header.interface}.${sig.header.member}(${sig.body.join(',')})`));
    post({ ready: true, id: conn.id });
    for (;;) {
      const m = await conn.recvAsync({ timeout: WAIT });
      if (m.dbus) { conn.dispatch(m); m.free(); continue; }
      const cmd = m.text();
      m.free();
      if (cmd === 'emit') {
        conn.emit({ path: '/org/example/Obj', interface: 'org.example.Foo', member: 'Changed', signature: 's', body: ['x'] });
        post({ emitted: true });
      } else if (cmd === 'report') break;
    }
    conn.close();
    bus.close();
    post({ name: inp.name, got, dropped: conn.droppedTotal });
  } else if (inp.role === 'service') {
    conn.requestName('org.example.Calc');
    conn.export('/org/example/Calc', 'org.example.Calc', {
      Add: { in: 'ii', out: 'i', handler: ([a, b]) => [(a as number) + (b as number)] },
      Boom: { handler: () => { throw new Error('boom in the service'); } },
      Later: { in: 's', out: 's', handler: async ([s], call) => { await new Promise((r) => setTimeout(r, 5)); return [`${s} from ${call.sender}`]; } },
      // never answers in time: the test terminates the worker meanwhile
      Hang: { handler: async () => { post({ hanging: true }); await new Promise((r) => setTimeout(r, 30000)); } },
    });
    post({ ready: true, id: conn.id });
    let served = 0;
    for await (const m of conn.messages({ timeout: WAIT })) {
      if (conn.dispatch(m) > 0) { served++; continue; }
      if (m.payloadType !== 0n && !m.dbus && m.text() === 'stop') break;
    }
    conn.close();
    bus.close();
    post({ done: true, served });
  } else {
    const id = await bus.waitForName('org.example.Calc', { timeout: WAIT });
    const Calc = { destination: 'org.example.Calc', path: '/org/example/Calc', interface: 'org.example.Calc' };
    const outcome = async (p: Promise<unknown[]>) => { try { return await p; } catch (e) { return errText(e); } };
    const add = await outcome(conn.callMethod({ ...Calc, member: 'Add', signature: 'ii', body: [20, 22] }, { timeout: WAIT }));
    const missing = await outcome(conn.callMethod({ ...Calc, member: 'Missing' }, { timeout: WAIT }));
    const boom = await outcome(conn.callMethod({ ...Calc, member: 'Boom' }, { timeout: WAIT }));
    const later = await outcome(conn.callMethod({ ...Calc, member: 'Later', signature: 's', body: ['hi'] }, { timeout: WAIT }));
    let sync: unknown;
    try { sync = conn.callMethodSync({ ...Calc, member: 'Add', signature: 'ii', body: [1, 2] }, { timeout: WAIT }); } catch (e) { sync = errText(e); }
    const pending = conn.pendingCalls;
    conn.close();
    bus.close();
    post({ owner: id, add, missing, boom, later, sync, pending, self: conn.uniqueName });
  }
} catch (e) {
  post({ error: errText(e) });
}
