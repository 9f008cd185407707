// One worker of the npm start demo (demo/hello.mjs). It joins the bus with the handle it was
// given (workerData: the handle, its number and the number of workers; no connection id),
// connects, takes the well-known name org.example.Worker<n> and exports one method on
// /org/example/Worker, interface org.example.Worker: Hello(s) -> s. Its receive loop hands
// every message to conn.dispatch(), which runs the handler and sends the reply. When the main
// thread's call comes, it finds each peer by name and sends it 16 bytes, by name. Once it has
// the call and one message from each peer, it sends the signal org.example.Worker.Done with
// its counters (JSON) to org.example.Main (a unicast signal: see demo/hello.mjs for why), releases its name, closes its connection and leaves the bus; then
// it has nothing pending and exits by itself.
import { workerData } from 'node:worker_threads';
import { Bus } from '../dist/js/index.js';
import { describeLine, workerName, WORKER, MAIN } from './hello.shared.mjs';

const { handle, n, engine, nWorkers } = workerData;
const name = `worker-${n}`, busName = workerName(n);
const bus = await Bus.join(handle, { engine });
const conn = bus.connect({ description: name, attachRecv: ['timestamp', 'creds'] });
conn.requestName(busName);

const stats = { slot: bus.engine.threadSlot, sent: 0, received: 0, poolPeak: 0 };
const names = new Map([[conn.id, name]]);
const peers = [];
for (let i = 1; i <= nWorkers; i++) if (i !== n) peers.push(workerName(i));
conn.export(WORKER.path, WORKER.interface, {
  Hello: { in: 's', out: 's', handler: ([greeting]) => [`pong from ${name} to "${greeting}"`] },
});

let expected = 1 + peers.length; // the main thread's call, and one message from each peer
for await (const m of conn.messages({ timeout: 5000 })) { // rejects (ETIMEDOUT) rather than hang
  stats.received++;
  stats.poolPeak = Math.max(stats.poolPeak, conn.poolUsed); // the message is still in our pool
  if (m.dbus === null) { // a peer's 16 bytes (not D-Bus); the first byte is its number
    names.set(m.src, `worker-${m.payload[0]}`);
    console.log(describeLine(m, name, names, bus));
  } else { // the main thread's call: dispatch runs Hello and sends its reply
    names.set(m.src, 'main');
    console.log(describeLine(m, name, names, bus));
    conn.dispatch(m);
    stats.sent++;
    for (const peer of peers) {
      await bus.waitForName(peer, { timeout: 5000 }); // it may not have taken its name yet
      conn.send(peer, Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? n : 0x80 | ((n * 16 + i) & 0x7f))));
      stats.sent++;
    }
  }
  if (--expected === 0) break;
}

stats.sent++; // the signal counts itself
// a unicast signal, to the main thread's name (delivered because main subscribed to it)
conn.emit({ ...WORKER, member: 'Done', signature: 's', body: [JSON.stringify({ done: name, ...stats })], destination: MAIN });
conn.releaseName(busName);
conn.close();
bus.close(); // gives the thread slot back: the main thread's bus.watch() resolves with slot -1
