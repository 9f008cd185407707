// A worker for the calls tests: joins, connects, and answers calls (role 'replier': the
// payload reversed, until a message that is not a call) or takes one call and never answers
// it (role 'hold': it is then terminated). Every wait has a timeout.
import { Bus, BusError, MockProvider, type BusHandle } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';

interface CallsInput { role: 'replier' | 'hold' | 'service' | 'progress' | 'fast' | 'echo'; handle: BusHandle }
const errText = (e: unknown) => (e instanceof BusError ? e.code : String((e as Error)?.stack ?? e));

const inp = await input<CallsInput>();
try {
  const bus = await Bus.join(inp.handle, { provider: new MockProvider({ seed: 9 }) });
  // ('fast': busy polling, so that every call's reply comes within the caller's spin)
  const conn = bus.connect({ description: `calls-${inp.role}`, busyPoll: inp.role === 'fast' || inp.role === 'echo' ? 100 : 0 });
  post({ ready: true, id: conn.id, slot: bus.engine.threadSlot });
  if (inp.role === 'replier' || inp.role === 'fast') {
    let answered = 0;
    for (;;) {
      const m = await conn.recvAsync({ timeout: 10000 });
      if (!m.expectsReply) { m.free(); break; }
      const bytes = m.payload.slice().reverse();
      conn.reply(m, bytes);
      m.free();
      answered++;
    }
    conn.close();
    bus.close();
    post({ done: true, answered });
  } else if (inp.role === 'echo') {
    // every message sent back to its sender (not a reply), until an empty one
    let answered = 0;
    for (;;) {
      const m = await conn.recvAsync({ timeout: 10000 });
      const n = m.payload.length, src = m.src;
      if (n > 0) conn.send(src, m.payload);
      m.free();
      if (n === 0) break;
      answered++;
    }
    conn.close();
    bus.close();
    post({ done: true, answered });
  } else if (inp.role === 'service') {
    // a service as the docs suggest: for await over its calls, each answered with replyAsync
    // (the payload back), which waits when the caller has no room rather than failing
    let answered = 0;
    for await (const m of conn.messages({ timeout: 30000 })) {
      if (!m.expectsReply) break;
      await conn.replyAsync(m, m.payload, { timeout: 30000 });
      answered++;
    }
    conn.close();
    bus.close();
    post({ done: true, answered });
  } else if (inp.role === 'progress') {
    // a job service: a call of payload [n, n >> 8] sends n events to its caller (each waiting
    // for room), then the answer, n again; a message that is not a call stops it
    let answered = 0;
    for (;;) {
      const m = await conn.recvAsync({ timeout: 10000 });
      if (!m.expectsReply) { m.free(); break; }
      const n = m.payload[0] | (m.payload[1] << 8);
      for (let i = 0; i < n; i++) await conn.sendAsync(m.src, new Uint8Array([i & 255]), { timeout: 10000 });
      await conn.replyAsync(m, m.payload, { timeout: 10000 });
      m.free();
      answered++;
    }
    conn.close();
    bus.close();
    post({ done: true, answered });
  } else {
    const m = await conn.recvAsync({ timeout: 10000 });
    post({ got: m.expectsReply });
    await new Promise((r) => setTimeout(r, 10000)); // terminated meanwhile
  }
} catch (e) {
  post({ error: errText(e) });
}
