// A worker that changes a name's owner when the main thread asks (through a SharedArrayBuffer,
// so that main can ask from inside its own SEND, blocked in its provider): it takes the name,
// gives it back, or closes its connection; and reports what its connection received.
import { Bus, BusError, MockProvider, abi as A, type BusHandle, type Connection } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';
import { CMD, DONE, ACQUIRE, RELEASE, CLOSE, REPORT, LEAVE } from './name-follow.ctl.ts';

export interface FollowInput { handle: BusHandle; ctl: SharedArrayBuffer; name: string }

const inp = await input<FollowInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 23, creds: { uid: 3200 } }) });
  const ctl = new Int32Array(inp.ctl);
  let conn: Connection = bus.connect({ attachRecv: ['creds'], description: 'follow-owner' });
  post({ ready: true, id: conn.id });
  for (let n = 1; ; n++) {
    // command n (bounded: main's own waits time out first)
    while (Atomics.load(ctl, CMD) >> 8 !== n) if (Atomics.wait(ctl, CMD, Atomics.load(ctl, CMD), 20000) === 'timed-out') throw new Error(`command ${n} never came`);
    const cmd = Atomics.load(ctl, CMD) & 0xff;
    if (cmd === ACQUIRE) { if (conn.closed) conn = bus.connect({ attachRecv: ['creds'], description: 'follow-owner' }); conn.requestName(inp.name); }
    else if (cmd === RELEASE) conn.releaseName(inp.name);
    else if (cmd === CLOSE) conn.close({ drop: true });
    else if (cmd === REPORT) {
      const got: number[] = [];
      for (let m = conn.closed ? null : conn.recv(); m; m = conn.recv()) {
        got.push(m.cookie);
        if (m.flags & A.MSG_EXPECT_REPLY) conn.reply(m, new Uint8Array([1]));
        m.free();
      }
      post({ got, id: conn.closed ? 0 : conn.id });
    }
    Atomics.store(ctl, DONE, n);
    Atomics.notify(ctl, DONE);
    if (cmd === LEAVE) break;
  }
  if (!conn.closed) conn.close({ drop: true });
  bus.close();
  post({ done: true });
} catch (e) {
  post({ error: e instanceof BusError ? `${e.code}: ${e.message}` : String((e as Error)?.stack ?? e) });
}
