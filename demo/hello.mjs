// npm start: a bus, two connections, a few messages each way, printed. Plain node, from dist/.
import { Bus } from '../dist/js/index.js';

for (const engine of ['wasm', 'twin']) {
  const bus = await Bus.create({ engine, limits: { connections: 4, poolMax: 65536 } });
  const alice = bus.connect({ description: 'alice' });
  const bob = bus.connect({ description: 'bob', attachRecv: ['timestamp', 'creds'] });
  console.log(`[${engine}] bus ${Buffer.from(bus.id128).toString('hex')}: alice ${alice.uniqueName}, bob ${bob.uniqueName}`);

  alice.sendText(bob.id, 'hello, bob');
  alice.sendJSON(bob.id, { question: 'how many bytes were copied?' }, { priority: -1 });
  for (let m; (m = bob.recv());) {
    const ts = m.timestamp, creds = m.creds;
    console.log(`[${engine}]   bob <- :1.${m.src} cookie ${m.cookie} seq ${ts?.seqnum} uid ${creds?.uid}: ${m.text()}`);
    m.free();
  }
  bob.sendJSON(alice.id, { answer: 'one copy, straight into your pool' });
  const reply = alice.recv();
  console.log(`[${engine}]   alice <- :1.${reply.src}: ${JSON.stringify(reply.json())}`);
  reply.free();

  alice.close();
  bob.close();
  bus.close();
}
