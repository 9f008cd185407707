// The demo's module Worker. The main thread posts { handle, engine } (a BusHandle from
// bus.handle(): the compiled core and the shared memory). The worker joins the bus, makes its
// own connection and tells the main thread its id. Everything after that goes through the bus:
// it receives two messages (the first with a blocking recvWait, allowed in a worker; the second
// with recvAsync), answers with three, leaves the bus and reports what it received.
import { describe } from './describe.js';

self.onmessage = async (ev) => {
  self.onmessage = null;
  const { handle, engine } = ev.data;
  try {
    const { Bus, MockProvider } = await import('../../dist/js/index.js');
    const ids = { uid: 2000, euid: 2000, suid: 2000, fsuid: 2000, gid: 2000, egid: 2000, sgid: 2000, fsgid: 2000 };
    const bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: 2, creds: ids }) });
    const conn = bus.connect({ description: 'worker', attachRecv: ['timestamp', 'creds'] });
    self.postMessage({ type: 'ready', id: conn.id, uniqueName: conn.uniqueName, engine: bus.engine.kind });

    const received = [];
    const first = conn.recvWait(10000); // blocks this worker (never the page) until the main thread sends
    if (first === null) throw new Error('worker: no message within 10 s (recvWait)');
    received.push(describe(first, 'main → worker', 'recvWait', 'worker'));
    const peer = first.src;
    const text = first.text();
    first.free();

    const second = await conn.recvAsync({ timeout: 10000 });
    received.push(describe(second, 'main → worker', 'recvAsync', 'worker'));
    const reversed = second.payload.slice().reverse();
    second.free();

    conn.sendText(peer, `pong: ${text}`);
    conn.send(peer, reversed);
    conn.sendJSON(peer, { from: 'worker', engine: bus.engine.kind, received: received.length });

    conn.close();
    bus.close(); // gives the thread slot back: the main thread sees recoverThread(token) === -1
    self.postMessage({ type: 'done', received });
  } catch (e) {
    self.postMessage({ type: 'error', error: String(e?.stack ?? e) });
  }
  self.close();
};
