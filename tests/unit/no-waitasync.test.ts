// A runtime without Atomics.waitAsync (older Firefox; none in the tested matrix, so the child
// deletes it before the library loads: no-waitasync-child.ts). Waits poll the wake word every
// 4 ms there (API.md, "Waiting for messages"); a wait its owner ends (a listener's stop(), an
// aborted recvAsync, close()) must stop polling at once, as a parked waitAsync ends on the
// notify: before stop 41 the poll went on every 4 ms until the next message or a close moved
// the word (9 timers in 40 ms after a stop() and after an abort, run on the old code). The
// child must also exit by itself: a poll timer left armed would keep it alive. Both engines,
// Node and Deno.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const g = globalThis as unknown as { Deno?: { execPath(): string; Command: new (cmd: string, o: object) => { output(): Promise<{ code: number; stdout: Uint8Array; stderr: Uint8Array }> } } };
const childPath = new URL('./no-waitasync-child.ts', import.meta.url);

async function child(engine: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (g.Deno) {
    const out = await new g.Deno.Command(g.Deno.execPath(), {
      args: ['run', '--no-lock', '-A', childPath.pathname, engine], stdout: 'piped', stderr: 'piped', signal: AbortSignal.timeout(30_000),
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }
  const { spawnSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const process = (await import('node:process')).default;
  // (spawnSync's timeout kills a child that never exits: status null)
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(childPath), engine], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const engine of ['wasm', 'twin']) {
  test(`no Atomics.waitAsync (${engine}): waits poll and receive; a wait ended by stop(), an abort or close() stops polling, and the process exits`, async () => {
    const r = await child(engine);
    assert.is(r.code, 0, `the child must exit by itself with 0 (null: killed after 30 s, a timer still armed); stderr: ${r.stderr}`);
    const d = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.is(d.waitAsync, 'undefined', 'the child runs without waitAsync');
    assert.is(d.timersAfterStop, 0, 'no poll timer after the listener stopped');
    assert.is(d.timersAfterAbort, 0, 'no poll timer after the abort');
    assert.is(d.pollingListener, 1, 'the parked listener polls');
    assert.equal(d.listener, [7]);
    assert.is(d.pollsAfterStop, 0);
    assert.is(d.recvAsync, 9);
    assert.is(d.pollingRecv, 1, 'the pending recvAsync polls');
    assert.is(d.aborted, 'ECANCELED', 'the aborted recvAsync rejects as documented');
    assert.is(d.pollsAfterAbort, 0);
    assert.is(d.closed, 'ECONNRESET', 'a close ends the pending recvAsync');
    assert.is(d.timersAfterClose, 0, 'no poll timer after close()');
    assert.is(d.pollsAfterClose, 0);
  });
}

test.run();
