// One module Worker of the browser demo. The page posts it { handle, engine, name, n, creds,
// hold } (handle: a BusHandle from bus.handle(), the compiled core and the shared memory; no
// connection id). The worker joins the bus with its own MockProvider (its own mocked
// credentials: the page gives each worker a different uid/gid), connects, takes the
// well-known name org.example.Worker<n> (the page finds it by that name) and exports
// org.example.Worker.Tick(u) -> s on /org/example/Worker. From then on, everything goes
// through the bus:
//   page -> worker   {"peers":[name,...]}   the live workers' names (sent again when that changes)
//   page -> worker   call Tick(r)           -> the reply "tock r from worker-n" (dispatch sends it),
//                                              and 16 bytes (r, then a pattern) to the next peer, by name
//   peer -> worker   16 bytes               -> the broadcast signal org.example.Worker.Relayed(r, from)
// The worker blocks in recvWait (a worker may; the page never does) and hands D-Bus method
// calls to conn.dispatch(). It keeps the last `hold` messages it received unfreed, in its pool,
// so that the page can see pool usage; it frees the oldest when a new one comes. postMessage
// back to the page carries only display data: what the worker read (each message described,
// before it is freed) and its counters.
import { describe } from './describe.js';

const WORKER = { path: '/org/example/Worker', interface: 'org.example.Worker' };

self.onmessage = async (ev) => {
  self.onmessage = null;
  const { handle, engine, name, n, creds, hold } = ev.data;
  try {
    const { Bus, MockProvider } = await import('../../dist/js/index.js');
    const bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: creds.uid, creds, realClock: true }) });
    const conn = bus.connect({ description: name, attachRecv: ['timestamp', 'creds'] });
    const busName = `org.example.Worker${n}`;
    conn.requestName(busName);
    const stats = { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0 };
    let peers = [];
    const send = (dst, bytes, what) => {
      try {
        conn.send(dst, bytes);
        stats.sent++;
        stats.sentBytes += bytes.length;
      } catch (e) {
        // a peer that was terminated: its name has no owner once the page has recovered it
        if (e?.code !== 'ESRCH' && e?.code !== 'ENXIO') throw e;
        self.postMessage({ type: 'sendFailed', dst, what, code: e.code, stats });
      }
    };
    conn.export(WORKER.path, WORKER.interface, {
      Tick: {
        in: 'u', out: 's',
        handler: ([r]) => {
          const i = peers.indexOf(busName);
          const next = peers.length > 1 ? peers[(i + 1) % peers.length] : null;
          if (next && next !== busName) {
            const bytes = new Uint8Array(16);
            new DataView(bytes.buffer).setUint32(0, r, true);
            for (let k = 4; k < 16; k++) bytes[k] = 0xa0 + k;
            send(next, bytes, 'relay');
          }
          stats.sent++; // the reply
          return [`tock ${r} from ${name}`];
        },
      },
    });
    self.postMessage({
      type: 'ready', busName, slot: conn.slot, gen: conn.gen, poolSize: conn.poolSize,
      threadSlot: bus.engine.threadSlot, engine: bus.engine.kind, stats,
    });

    const held = [];
    for (;;) {
      const m = conn.recvWait(1000); // blocks this worker (never the page); null after 1 s
      if (m === null) {
        await new Promise((r) => setTimeout(r, 0)); // let the event loop run now and then
        continue;
      }
      stats.received++;
      stats.receivedBytes += m.payload.length;
      const d = describe(m, name, 'recvWait');
      held.push(m);
      if (d.kind === 'dbus') conn.dispatch(m); // the page's Tick: the handler above, and its reply
      else if (d.kind === 'json' && Array.isArray(d.json.peers)) peers = d.json.peers;
      else if (d.kind === 'bytes' && d.size === 16) {
        const r = new DataView(m.payload.slice().buffer).getUint32(0, true); // read in place, then copied
        conn.emit({ ...WORKER, member: 'Relayed', signature: 'us', body: [r, name] });
        stats.sent++;
      }
      self.postMessage({ type: 'seen', d, stats, poolUsed: conn.poolUsed });
      while (held.length > hold) held.shift().free(); // keep the last `hold` in the pool
    }
  } catch (e) {
    self.postMessage({ type: 'error', error: String(e?.stack ?? e) });
  }
};
