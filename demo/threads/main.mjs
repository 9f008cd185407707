// main.mjs: the bus, a service worker found by name, a client worker
import { Worker } from 'node:worker_threads';
import { Bus } from 'wasmbus';

const bus = await Bus.create();
const start = (file) => {
  const handle = bus.handle();                        // one handle per worker
  const worker = new Worker(new URL(file, import.meta.url), { workerData: handle });
  return bus.watch(worker, handle);                   // recovers its thread if it dies
};
const service = start('./service.mjs');
await bus.waitForName('org.example.Calc', { timeout: 5000 });
const me = bus.connect();
const Calc = { destination: 'org.example.Calc', path: '/org/example/Calc', interface: 'org.example.Calc' };
const [sum] = await me.callMethod({ ...Calc, member: 'Add', signature: 'ii', body: [2, 3] });
console.log('main: 2 + 3 =', sum);
try {
  await me.callMethod({ ...Calc, member: 'Divide', signature: 'ii', body: [1, 0] });
} catch (e) {
  console.log('main:', e.errorName);                  // at once, not after a timeout
}
const client = start('./client.mjs');
console.log('main: service exit', (await service).code, 'client exit', (await client).code);
me.close();
bus.close();
