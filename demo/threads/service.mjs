// service.mjs: owns org.example.Calc, answers its methods, broadcasts a signal
import { workerData } from 'node:worker_threads';
import { Bus } from 'wasmbus';

const bus = await Bus.join(workerData);
const conn = bus.connect();
conn.requestName('org.example.Calc');
const Calc = { path: '/org/example/Calc', interface: 'org.example.Calc' };
conn.export(Calc.path, Calc.interface, {
  Add: { in: 'ii', out: 'i', handler: ([a, b]) => {
    conn.emit({ ...Calc, member: 'Added', signature: 'i', body: [a + b] }); // to every subscriber
    return [a + b];
  } },
  Crash: () => { setTimeout(() => process.exit(1), 10); }, // dies without leaving the bus
});
// serve until the bus shuts down (bus.shutdown(): every wait fails with ESHUTDOWN), then leave
try {
  for await (const msg of conn.messages()) conn.dispatch(msg);
} catch (e) {
  if (e.code !== 'ESHUTDOWN') throw e;
}
conn.close();
bus.close();
