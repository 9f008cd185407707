// From dist/ under plain node (no tsx anywhere): a worker_threads Worker joins a bus made on
// the main thread, on either engine, and they exchange messages both ways. tests/run.mjs
// builds dist/ (tsc -p tsconfig.build.json, then scripts/build-dist.mjs, as npm run build:ts) right before this run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Bus, MockProvider } from '../../dist/js/index.js';

const s = suite('threads: from dist/ [node, no tsx]');
const workers = new Set();
s.after(async () => { await Promise.all([...workers].map((w) => w.terminate())); });

function within(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

for (const [mainEngine, workerEngine] of [['wasm', 'wasm'], ['twin', 'twin'], ['wasm', 'twin'], ['twin', 'wasm']]) {
  s(`main on ${mainEngine}, worker on ${workerEngine}`, async () => {
    const bus = await Bus.create({ engine: mainEngine, provider: new MockProvider(), limits: { threads: 4, connections: 8, poolMax: 65536 } });
    const main = bus.connect();
    const handle = bus.handle();
    const w = new Worker(new URL('./dist.worker.mjs', import.meta.url), { workerData: { data: { handle, engine: workerEngine } } });
    workers.add(w);
    const inbox = [];
    let wake = null;
    w.on('message', (m) => { inbox.push(m); wake?.(); });
    w.on('error', (e) => { inbox.push({ error: String(e) }); wake?.(); });
    const exited = new Promise((r) => w.once('exit', r));
    // one waiter at a time; a message that arrives while nobody waits stays in the inbox (the
    // waiter is cleared once served, so a late message cannot be handed to a settled promise)
    const next = (what) => within(new Promise((r) => {
      const look = () => {
        if (!inbox.length) { wake = look; return; }
        wake = null;
        r(inbox.shift());
      };
      look();
    }), 20000, what);
    const ready = await next('ready');
    assert.is(ready.error, undefined, ready.error);
    assert.is(ready.engine, workerEngine);
    main.send(ready.id, new Uint8Array([1, 2, 3, 4]));
    const m = await main.recvAsync({ timeout: 5000 });
    assert.equal([...m.payload], [4, 3, 2, 1]);
    assert.ok(m.payload.buffer === bus.memory.buffer, 'read in place');
    m.free();
    assert.equal(await next('done'), { done: true });
    assert.is(await within(exited, 5000, 'exit'), 0, 'it exits by itself');
    workers.delete(w);
    assert.is(bus.recoverThread(handle.token), -1);
    main.close();
    bus.close();
  });
}

s('under Node\'s permission model (reads allowed in the package only): a bus is made and used on both engines, its OS thread not known', () => {
  // (an outside audit, stop 31: Bus.create failed with ERR_ACCESS_DENIED, from a look at
  // /proc/self/task that throws there, even with a MockProvider)
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const script = `import { Bus, MockProvider } from ${JSON.stringify(pathToFileURL(join(root, 'dist/js/index.js')).href)};
for (const engine of ['wasm', 'twin']) {
  const bus = await Bus.create({ engine, provider: new MockProvider() });
  const a = bus.connect(), b = bus.connect();
  a.send(b.id, new Uint8Array([7]));
  const m = b.recv();
  console.log(engine + ' ' + m.payload[0] + ' ' + bus.stats().threads.list[0].osThread);
  m.free(); a.close(); b.close(); bus.close();
}`;
  const r = spawnSync(process.execPath, ['--experimental-permission', `--allow-fs-read=${root}*`, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30000 });
  assert.is(r.status, 0, `exit ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  assert.equal(r.stdout.trim().split('\n'), ['wasm 7 0', 'twin 7 0']);
});

/**
 * Run `body` (a module; `BUS_IMPORT` in it becomes the import of dist/'s Bus) under Deno in a
 * terminal, with `flags`: script(1) gives deno a terminal, and its stdin at end of file
 * answers any prompt "no". Its output, or null (said as a skip) when this machine has no
 * script(1) or no deno in node_modules/.bin.
 */
function denoInTerminal(body, flags) {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const deno = join(root, 'node_modules/.bin/deno');
  const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
  if (!hasScript || !existsSync(deno)) {
    console.log(`  (skipped: ${hasScript ? 'no deno in node_modules/.bin' : 'no script(1) to give Deno a terminal'})`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'wasmbus-tty-'));
  const file = join(dir, 'create.mjs');
  writeFileSync(file, body.replace('BUS_IMPORT', `import { Bus } from ${JSON.stringify(pathToFileURL(join(root, 'dist/js/index.js')).href)};`));
  try {
    const cmd = `${deno} run --no-lock ${flags.replace('ROOT', root)} ${file}`;
    return spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60000, input: '' }).stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

s('Deno in a terminal, without -A: Bus.create asks nothing (it reads /proc only with -A, the optional core of a twin bus only where reading it is granted)', () => {
  // (an outside audit, stop 31: 13 permission prompts stopped a Bus.create in a terminal)
  const out = denoInTerminal(`BUS_IMPORT
const bus = await Bus.create({ engine: 'twin' });
const a = bus.connect(), b = bus.connect();
a.send(b.id, new Uint8Array([5]));
const m = b.recv();
console.log('got ' + m.payload[0] + ' osThread ' + bus.stats().threads.list[0].osThread);
m.free(); a.close(); b.close(); bus.close();
`, '--allow-read=ROOT/dist');
  if (out === null) return;
  assert.not.match(out, /requests/, `Deno asked:\n${out}`);
  assert.match(out, /got 5 osThread 0/, out);
});

s('Deno in a terminal, without --allow-read of the core: a wasm Bus.create rejects with the flag to use, and asks nothing', () => {
  // (an outside audit, stop 38: it asked twice, once for each place the core may be)
  const out = denoInTerminal(`BUS_IMPORT
try { await Bus.create({ engine: 'wasm' }); console.log('made'); } catch (e) { console.log('rejected: ' + e.message); }
`, '');
  if (out === null) return;
  assert.not.match(out, /requests/, `Deno asked:\n${out}`);
  assert.match(out, /rejected: wasmbus: no permission to read \S*build\/core\.wasm: run Deno with --allow-read/, out);
});

s.run();
