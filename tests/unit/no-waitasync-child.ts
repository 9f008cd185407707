// no-waitasync-child: run by no-waitasync.test.ts in a runtime whose Atomics.waitAsync is
// deleted before the library loads (older Firefox has none: js/host/wait.ts then polls the wake
// word on a timer). Prints one JSON line: what the listener and recvAsync received, and the
// poll timers armed after each wait was ended by its owner (none expected); then closes
// everything and returns, so that the process must exit on its own.
delete (Atomics as unknown as { waitAsync?: unknown }).waitAsync;
const g = globalThis as unknown as { Deno?: { args: string[] }; process?: { argv: string[] } };
const engine = (g.Deno ? g.Deno.args[0] : g.process!.argv[2]) as 'wasm' | 'twin';

// every timer armed from here on is counted; the test's own sleeps use the original
const realSetTimeout = globalThis.setTimeout;
let armed = 0;
(globalThis as { setTimeout: unknown }).setTimeout = (...args: Parameters<typeof setTimeout>) => { armed++; return realSetTimeout(...args); };
const sleep = (ms: number) => new Promise<void>((r) => realSetTimeout(r, ms));
async function until(cond: () => boolean, what: string): Promise<void> {
  const end = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after 5 s waiting for ${what}`);
    await sleep(2);
  }
}

/** after a wait was ended: the timers armed in the next 40 ms, and the polls left (none expected) */
async function quiet(): Promise<[number, number]> {
  const t0 = armed;
  await sleep(40);
  return [armed - t0, pollCount()];
}

const { Bus, MockProvider } = await import('../../js/index.ts');
const { pollCount } = await import('../../js/host/polls.ts');
const bus = await Bus.create({ engine, provider: new MockProvider() });
const a = bus.connect(), b = bus.connect();
const out: Record<string, unknown> = { waitAsync: typeof (Atomics as unknown as { waitAsync?: unknown }).waitAsync };

// a listener parked on its poll gets a message, then stop() ends the poll
const got: number[] = [];
const l = b.listen((m) => { got.push(m.payload[0]!); });
await sleep(20);
out.pollingListener = pollCount();
a.send(b.id, new Uint8Array([7]));
await until(() => got.length === 1, 'the listener\'s message');
await sleep(20);
l.stop();
await l.done;
out.listener = got;
[out.timersAfterStop, out.pollsAfterStop] = await quiet();

// recvAsync: a message, then an aborted wait, then a wait ended by close()
const p1 = b.recvAsync({ timeout: 5000 });
await sleep(20);
a.send(b.id, new Uint8Array([9]));
const m1 = await p1;
out.recvAsync = m1.payload[0];
m1.free();
const ac = new AbortController();
const p2 = b.recvAsync({ signal: ac.signal }).then(() => 'message', (e: { code?: string }) => e.code);
await sleep(20);
out.pollingRecv = pollCount();
ac.abort();
out.aborted = await p2;
[out.timersAfterAbort, out.pollsAfterAbort] = await quiet();
const p3 = b.recvAsync().then(() => 'message', (e: { code?: string }) => e.code);
await sleep(20);
b.close();
out.closed = await p3;
[out.timersAfterClose, out.pollsAfterClose] = await quiet();
a.close();
bus.close();
console.log(JSON.stringify(out));
