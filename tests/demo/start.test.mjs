// npm start (package.json's "start" script, demo/hello.mjs): run as npm would run it (sh -c),
// from dist/, in its own process group with a hard timeout, on each engine; check its output:
// the workers found by name, every message printed by its receiver with the sender, TIMESTAMP,
// CREDS and a pool offset (read in place): the method calls, the peers' bytes sent by name, the
// Done signals; the replies, a NAME_REMOVE per worker; the table per connection, exit code 0. The demo takes well
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
  s(`npm start on the ${engine} engine: three workers found by name, calls, signals, NAME_REMOVE, every message with its metadata, the table`, async () => {
    const args = engine === 'wasm' ? [] : ['--engine=twin']; // wasm is the default
    const { code, signal, stdout, stderr, ms } = await runStart(args);
    assert.is(stderr, '', 'nothing on stderr');
    assert.is(code, 0, `exit code (signal ${signal})\n${stdout}`);
    const lines = stdout.split('\n');
    assert.match(lines[0], `one bus on the ${engine} engine, the main thread and 3 workers`);

    // the workers were found by name, each with its own connection
    const found = lines.map((l) => /^ {2}(worker-(\d)) found by name: org\.example\.Worker(\d) is owned by :1\.(\d+)$/.exec(l)).filter(Boolean);
    assert.equal(found.map((j) => j[1]).sort(), ['worker-1', 'worker-2', 'worker-3']);
    assert.ok(found.every((j) => j[2] === j[3]), 'worker-n owns org.example.Worker<n>');
    assert.is(new Set(found.map((j) => j[4])).size, 3, 'three connections');
    const mainId = Number(/main is :1\.(\d+)/.exec(stdout)[1]);
    const idOf = new Map([['main', mainId], ...found.map((j) => [j[1], Number(j[4])])]);

    // one line per message: receiver <- sender (:1.id)  seq N  time mono T s  uid U gid G  | n B in place at pool+0x...  what
    const msgRe = /^ {2}(main|worker-\d)\s+<- (main|worker-\d)\s+\(:1\.(\d+)\) {2}seq +(\d+) {2}\d\d:\d\d:\d\d\.\d{6} mono [\d.]+ s {2}uid (\d+) gid (\d+) {2}\| +(\d+) B in place at pool\+0x[0-9a-f]{4} \(memory 0x[0-9a-f]{8}\) {2}(\S.*)$/;
    const msgs = lines.map((l) => msgRe.exec(l)).filter(Boolean);
    assert.is(msgs.length, 12, `12 message lines (a call and 2 peers' bytes to each worker, a signal from each to main):\n${stdout}`);
    assert.not.match(stdout, /NOT in the receiver's pool/);
    for (const m of msgs) assert.is(Number(m[3]), idOf.get(m[2]), `the sender's id: ${m[0]}`);
    const seqs = msgs.map((m) => Number(m[4]));
    assert.is(new Set(seqs).size, 12, 'every message has its own bus sequence number');
    const uid = process.getuid(), gid = process.getgid();
    assert.ok(msgs.every((m) => Number(m[5]) === uid && Number(m[6]) === gid), `CREDS: this process's uid ${uid} and gid ${gid}`);
    // who heard from whom: every worker the main thread's call and both peers' bytes; main a Done signal from each
    const heard = (r) => msgs.filter((m) => m[1] === r).map((m) => m[2]).sort();
    assert.equal(heard('main'), ['worker-1', 'worker-2', 'worker-3']);
    for (const w of ['worker-1', 'worker-2', 'worker-3']) {
      assert.equal(heard(w), ['main', 'worker-1', 'worker-2', 'worker-3'].filter((x) => x !== w), `${w} heard from`);
    }
    for (const m of msgs) {
      if (m[2] === 'main') assert.is(m[8], 'call org.example.Worker.Hello("hello")', 'the method call, as its receiver read it');
      else if (m[1] === 'main') assert.match(m[8], `signal org.example.Worker.Done("{\\"done\\":\\"${m[2]}\\"`, 'the Done signal');
      else assert.match(m[8], /^bytes 0\d [89a-f][0-9a-f] /, "a peer's 16 bytes");
    }
    // the replies to the calls; a NAME_REMOVE for each worker's name with its owner, unless the bus
    // dropped it (best effort: a receiver whose lock stays contended loses a notification, and
    // its next receive is told: then main's dropped count covers it)
    let seen = 0;
    for (const w of ['worker-1', 'worker-2', 'worker-3']) {
      assert.ok(lines.includes(`  main     <- ${w} reply to Hello: "pong from ${w} to \\"hello\\""`), `${w}'s reply`);
      const n = w.slice(-1);
      if (lines.includes(`  main     <- the bus    NAME_REMOVE: org.example.Worker${n} lost its owner :1.${idOf.get(w)} (${w} left)`)) seen++;
    }
    const saw = /^ {2}main saw (\d+) NAME_REMOVE of 3; messages the bus dropped for main \(lock contention\): (\d+)$/m.exec(stdout);
    assert.ok(saw, 'the NAME_REMOVE summary');
    assert.is(Number(saw[1]), seen, 'every NAME_REMOVE line names the right worker and owner');
    assert.is(lines.filter((l) => l.includes('NAME_REMOVE:')).length, seen, 'no other NAME_REMOVE');
    assert.ok(seen + Number(saw[2]) >= 3, `each NAME_REMOVE seen, or reported dropped:\n${stdout}`);
    if (seen < 3) console.log(`  [${engine}] ${3 - seen} NAME_REMOVE dropped by the bus (lock contention)`);

    // the table: one row per connection, with the counts that the exchange implies
    const rowRe = /^ {2}:1\.(\d+)\s+(main|worker-\d)\s+(org\.example\.Main|org\.example\.Worker\d)\s+(main|slot \d+)\s+(wasm|twin)\s+(\d+)\s+(\d+)\s+(\d+) B$/;
    const rows = lines.map((l) => rowRe.exec(l)).filter(Boolean);
    assert.ok(lines.some((l) => /^ {2}connection\s+name\s+well-known name\s+thread\s+engine\s+sent\s+received\s+pool peak$/.test(l)), 'the table header');
    assert.is(rows.length, 4, `four rows:\n${stdout}`);
    assert.is(new Set(rows.filter((r) => r[2] !== 'main').map((r) => r[4])).size, 3, 'three thread slots');
    for (const r of rows) {
      const isMain = r[2] === 'main';
      assert.is(Number(r[1]), idOf.get(r[2]), `${r[2]}: id`);
      assert.is(r[5], engine);
      assert.is(Number(r[6]), isMain ? 3 : 4, `${r[2]}: sent`);
      assert.is(Number(r[7]), isMain ? 6 : 3, `${r[2]}: received`);
      assert.ok(Number(r[8]) > 0, `${r[2]}: pool peak`);
    }
    const sum = (i) => rows.reduce((a, r) => a + Number(r[i]), 0);
    assert.is(sum(6), sum(7), 'messages sent = messages received');
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
