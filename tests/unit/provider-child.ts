// provider-child: the child process of providers.test.ts (Node, through tsx). Prints one JSON
// line on stdout.
//   drop      (as root) reads the credentials, starts a worker, drops to 65534 with
//             process.setgroups / setgid / setuid, reads them again on this thread and in the
//             worker. The providers use ttlMs: Infinity, so only the generation word (moved by
//             the wrapped setters) can make them read /proc again.
//   cmdline   the command line as the core gets it (this process is started with a long argv)
import { Worker } from 'node:worker_threads';
import process from 'node:process';
import { NodeProvider } from '../../js/host/node.ts';
import { collect } from './meta-collect.ts';

const mode = process.argv[2];

if (mode === 'cmdline') {
  const c = collect(new NodeProvider());
  console.log(JSON.stringify({ args: c.args, full: c.cmdlineFull }));
} else if (mode === 'drop') {
  const p = new NodeProvider({ ttlMs: Infinity });
  const before = collect(p);
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads');
    (async () => {
      (await import('tsx/esm/api')).register(); // Node 20 loads no .ts in a worker by itself
      const { NodeProvider } = await import(${JSON.stringify(new URL('../../js/host/node.ts', import.meta.url).href)});
      const { collect } = await import(${JSON.stringify(new URL('./meta-collect.ts', import.meta.url).href)});
      const p = new NodeProvider({ ttlMs: Infinity });
      parentPort.postMessage(collect(p));
      parentPort.on('message', () => { parentPort.postMessage(collect(p)); parentPort.close(); });
    })();
  `, { eval: true });
  const next = (): Promise<ReturnType<typeof collect>> => new Promise((res, rej) => {
    worker.once('message', res);
    worker.once('error', rej);
  });
  const workerBefore = await next();
  const sameEpoch = collect(p).epoch === before.epoch; // nothing changed yet: still cached
  process.setgroups!([65534]);
  process.setgid!(65534);
  process.setuid!(65534);
  const after = collect(p);
  worker.postMessage('again');
  const workerAfter = await next();
  const proc = { uid: process.getuid!(), euid: process.geteuid!(), gid: process.getgid!(), egid: process.getegid!() };
  console.log(JSON.stringify({ before, workerBefore, sameEpoch, after, workerAfter, proc }));
  await worker.terminate();
} else {
  console.error(`provider-child: unknown mode ${mode}`);
  process.exit(2);
}
