// One worker of the npm start demo (demo/hello.mjs). It joins the bus with the handle it was
// given (workerData), makes its own connection and posts its id to the main thread: the only
// thing postMessage carries, since names do not exist on the bus yet. Everything else goes
// through the bus. The main thread's first message (JSON) holds the peers' ids. On it, the
// worker answers the main thread and sends every peer 16 bytes; once it has received one message
// from the main thread and one from each peer, it sends the main thread its counters (JSON),
// closes its connection and leaves the bus. Then it has nothing pending and exits by itself.
import { parentPort, workerData } from 'node:worker_threads';
import { Bus } from '../dist/js/index.js';
import { describeLine } from './hello.shared.mjs';

const { handle, name, engine, mainId, peersExpected } = workerData;
const bus = await Bus.join(handle, { engine });
const conn = bus.connect({ description: name, attachRecv: ['timestamp', 'creds'] });
parentPort.postMessage({ type: 'ready', id: conn.id, slot: bus.engine.threadSlot, engine: bus.engine.kind });

const stats = { sent: 0, sentBytes: 0, received: 0, receivedBytes: 0, poolPeak: 0 };
const names = new Map([[conn.id, name], [mainId, 'main']]);
const send = (dst, bytes) => {
  conn.send(dst, bytes);
  stats.sent++;
  stats.sentBytes += bytes.length;
};
const enc = new TextEncoder();

let expected = 1 + peersExpected; // the main thread's hello, and one message from each peer
let peers = null; // [id, name] of every worker, from the hello
const early = []; // a peer's message that came before our hello: kept (unread) in our pool until then
const show = (m) => {
  console.log(describeLine(m, name, names, bus));
  m.free();
};
while (expected > 0) {
  const m = await conn.recvAsync({ timeout: 5000 }); // rejects (ETIMEDOUT) rather than hang
  expected--;
  stats.received++;
  stats.receivedBytes += m.payload.length;
  stats.poolPeak = Math.max(stats.poolPeak, conn.poolUsed); // the message is still in our pool
  if (m.src !== mainId) {
    if (peers) show(m);
    else early.push(m);
    continue;
  }
  peers = m.json().peers;
  for (const [id, peer] of peers) names.set(id, peer);
  show(m);
  early.splice(0).forEach(show);
  send(mainId, enc.encode(`pong from ${name}`));
  for (const [id] of peers) {
    if (id !== conn.id) send(id, Uint8Array.from({ length: 16 }, (_, i) => 0x80 | ((conn.id * 16 + i) & 0x7f)));
  }
}

send(mainId, enc.encode(JSON.stringify({ done: name, ...stats })));
conn.close();
bus.close(); // gives the thread slot back: the main thread's bus.watch() resolves with slot -1
