// One module Worker of the browser demo. The page posts it { handle, engine, name, pageId,
// creds, hold } (handle: a BusHandle from bus.handle(), the compiled core and the shared memory).
// The worker joins the bus with its own MockProvider (its own mocked credentials: the page
// gives each worker a different uid/gid), makes its own connection and posts its id back. From
// then on, everything goes through the bus:
//   page -> worker   {"peers":[[id,name],...]}   the live workers (sent again when that changes)
//   page -> worker   {"tick":r}                  -> "tock r from worker-n" to the page, and 16
//                                                   bytes (r, then a pattern) to the next peer
//   peer -> worker   16 bytes                    -> {"relayed":r,"from":id} to the page
// The worker blocks in recvWait (a worker may; the page never does). It keeps the last `hold`
// messages it received unfreed, in its pool, so that the page can see pool usage; it frees the
// oldest when a new one comes. postMessage back to the page carries only display data: what
// the worker read (each message described, before it is freed) and its counters.
import { describe } from './describe.js';

self.onmessage = async (ev) => {
  self.onmessage = null;
  const { handle, engine, name, pageId, creds, hold } = ev.data;
  try {
    const { Bus, MockProvider } = await import('../../dist/js/index.js');
    const bus = await Bus.join(handle, { engine, provider: new MockProvider({ seed: creds.uid, creds }) });
    const conn = bus.connect({ description: name, attachRecv: ['timestamp', 'creds'] });
    const stats = { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0 };
    self.postMessage({
      type: 'ready', id: conn.id, slot: conn.slot, gen: conn.gen, poolSize: conn.poolSize,
      threadSlot: bus.engine.threadSlot, engine: bus.engine.kind, stats,
    });

    const enc = new TextEncoder();
    const send = (dst, bytes, what) => {
      try {
        conn.send(dst, bytes);
        stats.sent++;
        stats.sentBytes += bytes.length;
      } catch (e) {
        // a peer that was terminated: its connection is gone once the page has recovered it
        if (e?.code !== 'ENXIO') throw e;
        self.postMessage({ type: 'sendFailed', dst, what, code: e.code, stats });
      }
    };
    let peers = [];
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
      self.postMessage({ type: 'seen', d, stats, poolUsed: conn.poolUsed });
      if (m.src === pageId && d.kind === 'json' && d.json.peers) {
        peers = d.json.peers;
      } else if (m.src === pageId && d.kind === 'json' && typeof d.json.tick === 'number') {
        const r = d.json.tick;
        send(pageId, enc.encode(`tock ${r} from ${name}`), 'tock');
        const ids = peers.map(([id]) => id);
        const next = ids.length > 1 ? ids[(ids.indexOf(conn.id) + 1) % ids.length] : 0;
        if (next && next !== conn.id) {
          const bytes = new Uint8Array(16);
          new DataView(bytes.buffer).setUint32(0, r, true);
          for (let i = 4; i < 16; i++) bytes[i] = 0xa0 + i;
          send(next, bytes, 'relay');
        }
      } else if (m.src !== pageId && d.kind === 'bytes' && d.size === 16) {
        const r = new DataView(m.payload.slice().buffer).getUint32(0, true); // read in place, then copied
        send(pageId, enc.encode(JSON.stringify({ relayed: r, from: m.src })), 'relayed');
      }
      while (held.length > hold) held.shift().free(); // keep the last `hold` in the pool
    }
  } catch (e) {
    self.postMessage({ type: 'error', error: String(e?.stack ?? e) });
  }
};
