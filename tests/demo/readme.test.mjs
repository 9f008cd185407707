// The README's three-thread example ("Names, methods and signals between threads") is the code
// of demo/threads/ (main.mjs, service.mjs, client.mjs): this test checks that each file appears
// verbatim in README.md, then runs `node demo/threads/main.mjs` (plain node; `wasmbus` resolves
// to this package's own dist/ by its exports) in its own process group with a hard timeout and
// checks what it prints: the main thread's call and its UnknownMethod error, the client worker's
// call, the service's signal dispatched to the client's onSignal handler, the client told by
// NAME_REMOVE that the service died, both exit codes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LIMIT_MS = 20000;
const FILES = ['main.mjs', 'service.mjs', 'client.mjs'];

function run(file) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.FORCE_COLOR; // console.log colours numbers when forced (and NO_COLOR with it makes node warn)
    delete env.NO_COLOR;
    const child = spawn(process.execPath, [file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (c) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => { timedOut = true; try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, LIMIT_MS);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`${file} did not end within ${LIMIT_MS} ms\n${stdout}\n${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
}

const s = suite('README example');

s('the README three-thread example is demo/threads/, and it runs: calls by name, UnknownMethod at once, NAME_REMOVE when the service dies', async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const f of FILES) {
    const code = readFileSync(new URL(`../../demo/threads/${f}`, import.meta.url), 'utf8');
    assert.ok(readme.includes('```js\n' + code + '```\n'), `README.md shows demo/threads/${f} verbatim`);
  }
  const { code, signal, stdout, stderr } = await run('demo/threads/main.mjs');
  assert.is(stderr, '', 'nothing on stderr');
  assert.is(code, 0, `exit code (signal ${signal})\n${stdout}`);
  const lines = stdout.trim().split('\n');
  assert.equal([...lines].sort(), [
    'client: 40 + 2 = 42',
    'client: signal Added 42',
    lines.find((l) => l.startsWith('client: org.example.Calc lost its owner :1.')) ?? 'client: (no NAME_REMOVE line)',
    'main: 2 + 3 = 5',
    'main: org.freedesktop.DBus.Error.UnknownMethod',
    'main: service exit 1 client exit 0',
  ].sort(), stdout);
  // the order within each thread
  assert.ok(lines.indexOf('main: 2 + 3 = 5') < lines.indexOf('main: org.freedesktop.DBus.Error.UnknownMethod'));
  assert.ok(lines.indexOf('client: 40 + 2 = 42') < lines.indexOf('client: signal Added 42'));
  assert.ok(lines.indexOf('client: signal Added 42') < lines.findIndex((l) => l.includes('lost its owner')));
  assert.is(lines[lines.length - 1], 'main: service exit 1 client exit 0');
});

s.run();
