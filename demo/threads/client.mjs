// client.mjs: calls the service by name, and is told when it dies
import { workerData } from 'node:worker_threads';
import { Bus } from 'wasmbus';

const bus = await Bus.join(workerData);
const conn = bus.connect();
conn.addMatch({ notifications: 'name-remove' });
conn.onSignal("type='signal',interface='org.example.Calc',member='Added'", (signal) => {
  console.log('client: signal Added', signal.body[0]);
});
const Calc = { destination: 'org.example.Calc', path: '/org/example/Calc', interface: 'org.example.Calc' };
const [sum] = await conn.callMethod({ ...Calc, member: 'Add', signature: 'ii', body: [40, 2] });
console.log('client: 40 + 2 =', sum);
await conn.callMethod({ ...Calc, member: 'Crash' });
for await (const msg of conn.messages({ timeout: 10000 })) {
  conn.dispatch(msg); // runs the onSignal handler for the signal
  const n = msg.notification;
  if (n?.kind === 'name-remove' && n.name === 'org.example.Calc') {
    console.log(`client: org.example.Calc lost its owner :1.${n.oldOwner}`);
    break;
  }
}
conn.close({ drop: true }); // (whatever else came meanwhile goes with it)
bus.close();
