// npm start (package.json's "start" script, demo/hello.mjs): run as npm would run it (sh -c),
// from dist/, in its own process group with a hard timeout, on each engine; check its output:
// the workers joined, every message printed by its receiver with the sender, TIMESTAMP, CREDS
// and a pool offset (read in place), the table per connection, exit code 0. The demo takes well
// under 2 s (printed as a figure); the assertion is only a generous bound against hangs.
// Plain node (no tsx); needs build/ and dist/ (npm run build).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const START = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).scripts.start;
const LIMIT_MS = 10000;
const ENGINE = process.env.WASMBUS_ENGINE || 'both';
const ENGINES = { both: ['wasm', 'twin'], wasm: ['wasm'], twin: ['twin'] }[ENGINE];
if (!ENGINES) throw new Error(`WASMBUS_ENGINE must be wasm, twin or both, not ${JSON.stringify(ENGINE)}`);

/** Runs the start script with `args`; resolves to { code, signal, stdout, stderr, ms }. */
function runStart(args, env = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const childEnv = { ...process.env, WASMBUS_ENGINE: '', ...env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
    delete childEnv.FORCE_COLOR; // with NO_COLOR too, node warns on stderr
    delete childEnv.NO_COLOR;
    const child = spawn('sh', ['-c', `${START} "$@"`, 'sh', ...args], {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: a timeout kills the workers' process too
    });
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (c) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, LIMIT_MS);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      if (timedOut) reject(new Error(`npm start did not end within ${LIMIT_MS} ms\n${stdout}\n${stderr}`));
      else resolve({ code, signal, stdout, stderr, ms });
    });
  });
}

const s = suite('npm start');

for (const engine of ENGINES) {
  s(`npm start on the ${engine} engine: three workers, every message with its metadata, the table`, async () => {
    const args = engine === 'wasm' ? [] : ['--engine=twin']; // wasm is the default
    const { code, signal, stdout, stderr, ms } = await runStart(args);
    assert.is(stderr, '', 'nothing on stderr');
    assert.is(code, 0, `exit code (signal ${signal})\n${stdout}`);
    const lines = stdout.split('\n');
    assert.match(lines[0], `one bus on the ${engine} engine, the main thread and 3 workers`);

    // the workers joined, each on its own thread slot, each with its own connection
    const joined = lines.map((l) => /^ {2}(worker-\d) joined: connection :1\.(\d+), thread slot (\d+), (\w+) engine/.exec(l)).filter(Boolean);
    assert.equal(joined.map((j) => j[1]).sort(), ['worker-1', 'worker-2', 'worker-3']);
    assert.is(new Set(joined.map((j) => j[2])).size, 3, 'three connections');
    assert.is(new Set(joined.map((j) => j[3])).size, 3, 'three thread slots');
    assert.ok(joined.every((j) => j[4] === engine), 'the workers run the same engine');
    const mainId = Number(/main is :1\.(\d+)/.exec(stdout)[1]);
    const idOf = new Map([['main', mainId], ...joined.map((j) => [j[1], Number(j[2])])]);

    // one line per message: receiver <- sender (:1.id)  seq N  time mono T ms  uid U gid G  | n B in place at pool+0x...
    const msgRe = /^ {2}(main|worker-\d)\s+<- (main|worker-\d)\s+\(:1\.(\d+)\) {2}seq +(\d+) {2}\d\d:\d\d:\d\d\.\d{6} mono [\d.]+ ms {2}uid (\d+) gid (\d+) {2}\| +(\d+) B in place at pool\+0x[0-9a-f]{4} \(memory 0x[0-9a-f]{8}\) {2}\S/;
    const msgs = lines.map((l) => msgRe.exec(l)).filter(Boolean);
    assert.is(msgs.length, 15, `15 message lines (3 from main, 4 from each worker):\n${stdout}`);
    assert.not.match(stdout, /NOT in the receiver's pool/);
    for (const m of msgs) assert.is(Number(m[3]), idOf.get(m[2]), `the sender's id: ${m[0]}`);
    const seqs = msgs.map((m) => Number(m[4]));
    assert.is(new Set(seqs).size, 15, 'every message has its own bus sequence number');
    const uid = process.getuid(), gid = process.getgid();
    assert.ok(msgs.every((m) => Number(m[5]) === uid && Number(m[6]) === gid), `CREDS: this process's uid ${uid} and gid ${gid}`);
    // who heard from whom: every worker from main and from both peers; main twice from every worker
    const heard = (r) => msgs.filter((m) => m[1] === r).map((m) => m[2]).sort();
    assert.equal(heard('main'), ['worker-1', 'worker-1', 'worker-2', 'worker-2', 'worker-3', 'worker-3']);
    for (const w of ['worker-1', 'worker-2', 'worker-3']) {
      assert.equal(heard(w), ['main', 'worker-1', 'worker-2', 'worker-3'].filter((x) => x !== w), `${w} heard from`);
    }

    // the table: one row per connection, with the counts that the exchange implies
    const rowRe = /^ {2}:1\.(\d+)\s+(main|worker-\d)\s+(main|slot \d+)\s+(wasm|twin)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+) B$/;
    const rows = lines.map((l) => rowRe.exec(l)).filter(Boolean);
    assert.ok(lines.some((l) => /^ {2}connection\s+name\s+thread\s+engine\s+sent\s+bytes\s+received\s+bytes\s+pool peak$/.test(l)), 'the table header');
    assert.is(rows.length, 4, `four rows:\n${stdout}`);
    for (const r of rows) {
      const isMain = r[2] === 'main';
      assert.is(Number(r[1]), idOf.get(r[2]), `${r[2]}: id`);
      assert.is(r[4], engine);
      assert.is(Number(r[5]), isMain ? 3 : 4, `${r[2]}: sent`);
      assert.is(Number(r[7]), isMain ? 6 : 3, `${r[2]}: received`);
      assert.ok(Number(r[9]) > 0, `${r[2]}: pool peak`);
    }
    const sum = (i) => rows.reduce((a, r) => a + Number(r[i]), 0);
    assert.is(sum(6), sum(8), 'bytes sent = bytes received');
    assert.match(stdout, /15 messages; workers left the bus by themselves: true/);
    const took = Number(/done in (\d+) ms since the process started/.exec(stdout)?.[1]);
    assert.ok(took > 0, 'the demo reports its time');
    assert.ok(ms < LIMIT_MS, `ended in ${ms} ms`);
    console.log(`  [${engine}] npm start: ${took} ms by its own clock, ${Math.round(ms)} ms wall (including sh and node startup)`);
  });
}

s('npm start: --workers=5 and a bad argument', async () => {
  const five = await runStart(['--workers=5']);
  assert.is(five.code, 0, five.stdout + five.stderr);
  assert.match(five.stdout, /the main thread and 5 workers/);
  assert.match(five.stdout, /35 messages; workers left the bus by themselves: true/); // 5 + 5 × (1 + 4 + 1)
  const bad = await runStart(['--engine=nope']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /^usage: /);
});

s.run();
