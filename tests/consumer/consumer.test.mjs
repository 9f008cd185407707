// The package as a user gets it: `npm pack`, the tarball installed (offline) into an empty
// temporary project, and programs run there from node_modules/wasmbus, never from this
// repository's sources:
//   - the tarball's contents (what is shipped, what is not; README and docs links resolve);
//   - plain Node: a main thread and a node:worker_threads worker, both engines, real provider;
//   - Deno: the same program (`deno run -A`), the permission cases (no --allow-sys: a warning
//     and unknown credentials; no --allow-read: an error that names the permission), and a
//     typed consumer with `deno check` and `deno run`;
//   - TypeScript: `tsc --noEmit` with a Node-only lib ("lib": ["es2023"], types: ["node"],
//     skipLibCheck off), TypeScript and @types/node taken from this repository's node_modules;
//   - a browser bundle: esbuild --bundle --platform=browser of a page and a module worker, no
//     plugin, no loader, no external, then the page in headless Chromium (playwright-core) on a
//     COOP/COEP server. Skipped, saying why, without Chromium (WASMBUS_CHROMIUM, default
//     /usr/bin/chromium).
// Plain node (no tsx). Every child process runs under a timeout.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixture/', import.meta.url));
const DENO = join(ROOT, 'node_modules/.bin/deno');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const CHROMIUM = process.env.WASMBUS_CHROMIUM || '/usr/bin/chromium';
const RUN_TIMEOUT_MS = 60000;

const s = suite('consumer: the packed package, installed');

/** Run a command; never longer than `timeout` ms (SIGKILL). Returns { code, stdout, stderr }. */
function run(cmd, args, { cwd = ROOT, timeout = RUN_TIMEOUT_MS, env = {} } = {}) {
  const r = spawnSync(cmd, args, {
    cwd, timeout, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 64 << 20,
    env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', DENO_NO_PROMPT: '1', npm_config_update_notifier: 'false', ...env },
  });
  const out = { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
  out.text = `${cmd} ${args.join(' ')} (in ${cwd}): exit ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}\n` +
    `stdout:\n${out.stdout}\nstderr:\n${out.stderr}`;
  return out;
}

function ok(r, what) {
  assert.ok(r.code === 0, `${what} failed:\n${r.text}`);
  return r;
}

/** The last line of stdout that parses as JSON. */
function lastJSON(r) {
  const lines = r.stdout.trim().split('\n').reverse();
  for (const l of lines) {
    try { return JSON.parse(l); } catch { /* not JSON */ }
  }
  assert.unreachable(`no JSON line in the output:\n${r.text}`);
}

// ---------- the tarball and the project (made on first use: uvu 0.5 swallows a before hook's error) ----------

let work = null;
let packed = null; // { tarball, files: [paths] }
let project = null;

async function getPacked() {
  if (packed) return packed;
  work = await mkdtemp(join(tmpdir(), 'wasmbus-consumer-'));
  // a fresh build, then the tarball exactly as `npm publish` would make it (scripts already ran)
  ok(run('npm', ['run', 'build'], { timeout: 240000 }), 'npm run build');
  const r = ok(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { timeout: 120000 }), 'npm pack');
  const info = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))[0];
  packed = { tarball: join(work, info.filename), files: info.files.map((f) => f.path).sort() };
  return packed;
}

async function getProject() {
  if (project) return project;
  const { tarball } = await getPacked();
  const dir = join(work, 'app');
  await mkdir(dir);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  // the package has no runtime dependencies: an offline install from the tarball must work
  ok(run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: dir, timeout: 120000 }), 'npm install <tarball>');
  await cp(FIXTURE, dir, { recursive: true });
  project = dir;
  return dir;
}

s.after(async () => {
  if (work) await rm(work, { recursive: true, force: true }).catch((e) => console.error(`after: ${e}`));
});

// ---------- the tarball ----------

s('tarball: what is shipped', async () => {
  const { files } = await getPacked();
  for (const f of ['package.json', 'README.md', 'LICENSE', 'build/core.wasm', 'dist/js/index.js', 'dist/js/index.d.ts',
    'dist/browser/wasmbus.js', 'docs/API.md', 'docs/ARCHITECTURE.md', 'docs/DIFFERENCES.md']) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
  const bad = files.filter((f) =>
    /^(tests|js|assembly|bench|demo|scripts|types|\.ci)\//.test(f) || // sources, tests, tooling
    (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)) ||                         // TypeScript sources
    /\.d\.ts\.map$/.test(f) ||                                          // declaration maps (no sources to map to)
    /\.wasm\.map$|\.wat$/.test(f));
  assert.equal(bad, [], 'no sources, tests, tooling or maps of unshipped files');
  // the JS source maps carry their sources (inlineSources), so they map to something
  const { tarball } = packed;
  const dir = await getProject();
  const base = join(dir, 'node_modules/wasmbus');
  for (const f of files.filter((f) => f.endsWith('.js.map'))) {
    const map = JSON.parse(readFileSync(join(base, f), 'utf8'));
    assert.ok(Array.isArray(map.sourcesContent) && map.sourcesContent.every((c) => typeof c === 'string'), `${f}: sourcesContent`);
  }
  // package.json's license has its LICENSE file
  const pkg = JSON.parse(readFileSync(join(base, 'package.json'), 'utf8'));
  assert.is(pkg.license, 'MIT');
  assert.match(readFileSync(join(base, 'LICENSE'), 'utf8'), /^MIT License/);
  assert.equal(pkg.dependencies ?? {}, {}, 'no runtime dependencies');
  assert.ok(tarball.endsWith('.tgz'));
});

s('tarball: every relative link of README.md and docs/*.md resolves inside the package', async () => {
  const { files } = await getPacked();
  const dir = await getProject();
  const base = join(dir, 'node_modules/wasmbus');
  const broken = [];
  for (const doc of files.filter((f) => f === 'README.md' || /^docs\/.*\.md$/.test(f))) {
    const text = readFileSync(join(base, doc), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
      const path = join(dirname(doc), target.split('#')[0]).split('\\').join('/');
      if (!files.includes(path) && !files.some((f) => f.startsWith(`${path.replace(/\/$/, '')}/`))) broken.push(`${doc}: ${target}`);
    }
    if (/shared\/design|design notes?\b|\bTOOLCHAIN\.md/.test(text)) broken.push(`${doc}: refers to the design notes`);
  }
  assert.equal(broken, [], 'links that would break on npm');
});

// ---------- Node ----------

s('node: main thread + worker_threads worker, both engines, from node_modules', async () => {
  const dir = await getProject();
  const r = ok(run(process.execPath, ['main.mjs'], { cwd: dir }), 'node main.mjs');
  const out = lastJSON(r);
  assert.is(out.ok, true);
  assert.is(out.runtime, 'node');
  assert.equal(out.rounds.map((x) => [x.engine, x.worker, x.reply, x.exit]),
    [['wasm', 'wasm', 'got: hello wasm worker', 0], ['twin', 'twin', 'got: hello twin worker', 0]]);
  const uid = process.getuid(), gid = process.getgid();
  for (const x of out.rounds) {
    assert.is(x.creds.uid, uid, 'the real provider: real uid');
    assert.is(x.creds.gid, gid);
  }
  assert.not.match(r.stderr, /wasmbus/, 'nothing printed by the package');
});

s('node: TypeScript consumer, tsc --noEmit with "lib": ["es2023"] and types ["node"]', async () => {
  const dir = await getProject();
  const tsconfig = JSON.parse(await readFile(join(dir, 'tsconfig.node.json'), 'utf8'));
  tsconfig.compilerOptions.typeRoots = [join(ROOT, 'node_modules/@types')]; // @types/node from this repo
  await writeFile(join(dir, 'tsconfig.node.json'), JSON.stringify(tsconfig, null, 2));
  ok(run(process.execPath, [TSC, '-p', 'tsconfig.node.json', '--noEmit', '--pretty', 'false'], { cwd: dir }), 'tsc --noEmit');
  // and the same file with the DOM lib (the browser's WebAssembly types instead of the fallback)
  tsconfig.compilerOptions.lib = ['es2023', 'dom'];
  await writeFile(join(dir, 'tsconfig.dom.json'), JSON.stringify(tsconfig, null, 2));
  ok(run(process.execPath, [TSC, '-p', 'tsconfig.dom.json', '--noEmit', '--pretty', 'false'], { cwd: dir }), 'tsc --noEmit (lib dom)');
});

// ---------- Deno ----------

s('deno: run -A, main thread + worker, both engines, real credentials', async () => {
  const dir = await getProject();
  const r = ok(run(DENO, ['run', '-A', '--no-lock', 'main.mjs'], { cwd: dir }), 'deno run -A main.mjs');
  const out = lastJSON(r);
  assert.is(out.runtime, 'deno');
  assert.equal(out.rounds.map((x) => [x.engine, x.worker, x.reply]),
    [['wasm', 'wasm', 'got: hello wasm worker'], ['twin', 'twin', 'got: hello twin worker']]);
  for (const x of out.rounds) assert.is(x.creds.uid, process.getuid());
  assert.not.match(r.stderr, /wasmbus/, 'no warning with -A');
});

s('deno: --allow-read only: runs, credentials unknown (CREDS left out), and a warning says which flag is missing', async () => {
  const dir = await getProject();
  const r = ok(run(DENO, ['run', '--allow-read', '--no-lock', 'main.mjs'], { cwd: dir }), 'deno run --allow-read main.mjs');
  const out = lastJSON(r);
  for (const x of out.rounds) assert.is(x.creds, null, "CREDS left out");
  assert.match(r.stderr, /wasmbus: the Deno provider cannot read this thread's credentials/);
  assert.match(r.stderr, /--allow-sys/);
  const sys = ok(run(DENO, ['run', '--allow-read', '--allow-sys=uid,gid', '--no-lock', 'main.mjs'], { cwd: dir }), 'deno run --allow-read --allow-sys=uid,gid');
  for (const x of lastJSON(sys).rounds) assert.is(x.creds.uid, process.getuid());
  assert.not.match(sys.stderr, /wasmbus/);
});

s('deno: no permission at all: the error names --allow-read', async () => {
  const dir = await getProject();
  const r = run(DENO, ['run', '--no-lock', 'main.mjs'], { cwd: dir });
  assert.is.not(r.code, 0, r.text);
  assert.match(r.stderr, /no permission to read \S*node_modules\/wasmbus\/build\/core\.wasm: run Deno with --allow-read/, r.text);
  assert.not.match(r.stderr, /npm run build/);
});

s('deno: check and run a typed consumer', async () => {
  const dir = await getProject();
  ok(run(DENO, ['check', '--no-lock', 'app.ts'], { cwd: dir }), 'deno check app.ts');
  const out = lastJSON(ok(run(DENO, ['run', '--allow-read', '--no-lock', 'app.ts'], { cwd: dir }), 'deno run app.ts'));
  assert.is(out.ok, true, JSON.stringify(out));
});

// ---------- browser ----------

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm' };

s('browser: esbuild --bundle --platform=browser, no plugin, no external, one file per entry', async () => {
  const dir = await getProject();
  const esbuild = await import('esbuild');
  const out = join(dir, 'www');
  for (const [entry, file] of [['page.src.js', 'page.js'], ['worker.src.js', 'worker.js']]) {
    const result = await esbuild.build({
      absWorkingDir: dir, entryPoints: [entry], outfile: join(out, file), bundle: true, platform: 'browser', format: 'esm',
      metafile: true, logLevel: 'silent', write: true,
    });
    assert.equal(result.errors, []);
    assert.equal(Object.keys(result.metafile.outputs).map((p) => p.split('/').pop()), [file], 'one output file, no emitted asset');
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.some((p) => p.includes('node_modules/wasmbus/dist/browser/wasmbus.js')), `the browser condition was used: ${inputs}`);
    assert.equal(inputs.filter((p) => p.startsWith('node:') || /wasmbus\/dist\/js\//.test(p)), [], 'no node: import, nothing of the Node build');
  }
  await cp(join(dir, 'page.html'), join(out, 'index.html'));
  await cp(join(dir, 'node_modules/wasmbus/build/core.wasm'), join(out, 'core.wasm'));
});

if (!existsSync(CHROMIUM)) {
  console.log(`consumer browser test skipped: chromium not installed at ${CHROMIUM} (apt-get install -y chromium, or set WASMBUS_CHROMIUM)`);
  s.skip('browser: the bundled page and worker in headless Chromium');
} else {
  s('browser: the bundled page and worker in headless Chromium', async () => {
    const dir = await getProject();
    const www = join(dir, 'www');
    assert.ok(existsSync(join(www, 'page.js')), 'the bundle test ran first');
    const fetched = [];
    const server = createServer((req, res) => {
      const name = new URL(req.url, 'http://x').pathname.slice(1) || 'index.html';
      if (name === 'favicon.ico') { res.writeHead(204); res.end(); return; }
      fetched.push(name);
      const file = join(www, name);
      if (!/^[\w.-]+$/.test(name) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, {
        'Content-Type': MIME[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream',
        'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cache-Control': 'no-store',
      });
      res.end(readFileSync(file));
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const { chromium } = await import('playwright-core');
    const profile = await mkdtemp(join(tmpdir(), 'wasmbus-consumer-chromium-'));
    let context = null;
    try {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM, headless: true, timeout: 60000,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
          '--disable-component-update', '--disable-sync', '--disable-quic'],
      });
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console.error: ${m.text()}`); });
      await page.goto(`http://127.0.0.1:${server.address().port}/`, { timeout: 30000 });
      await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30000, polling: 50 });
      const r = await page.evaluate(() => window.__result);
      assert.is(r.error, undefined, r.error);
      assert.is(r.ok, true);
      assert.is(r.crossOriginIsolated, true);
      assert.is(r.reply, 'got: hello worker');
      assert.is(r.creds.uid, 2000, "the worker's mocked credentials");
      assert.equal(problems, []);
      assert.equal(fetched.filter((f) => f.endsWith('.wasm')), ['core.wasm'], 'only the comparison fetch: the package fetched no wasm');
      const ms = (x) => `${x.toFixed(1)} ms`;
      console.log(`  [chromium] inlined core (${r.wasmBytes} bytes, ${r.base64Chars} base64 chars): loadCore() ${ms(r.loadCoreMs)} ` +
        `(decode + compile, cold), of which decode ${ms(r.decodeMs)}; fetching the same file from 127.0.0.1: ${ms(r.fetchMs)}`);
    } finally {
      await Promise.race([context?.close(), new Promise((r) => setTimeout(r, 15000).unref())]).catch(() => {});
      server.close();
      await rm(profile, { recursive: true, force: true }).catch(() => {});
    }
  });
}

s.run();
