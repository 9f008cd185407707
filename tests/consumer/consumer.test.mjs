// The package as a user gets it: `npm pack`, the tarball installed (offline) into an empty
// temporary project, and programs run there from node_modules/wasmbus, never from this
// repository's sources:
//   - the tarball's contents (what is shipped, what is not; README and docs links resolve);
//   - an uncaught error from the package under Node (--enable-source-maps) and Deno: its frame
//     points at the shipped TypeScript source, at the throw's own line;
//   - plain Node: a main thread and a node:worker_threads worker, both engines, real provider;
//   - Deno: the same program (`deno run -A`), the permission cases (no -A: a warning
//     and unknown credentials; no --allow-read: an error that names the permission), and a
//     typed consumer with `deno check` and `deno run`;
//   - TypeScript: `tsc --noEmit` with a Node-only lib ("lib": ["es2023"], types: ["node"],
//     skipLibCheck off), TypeScript and @types/node taken from this repository's node_modules;
//   - browser bundles of a page and a module worker by esbuild (--bundle --platform=browser),
//     webpack 5 (its CLI, no config file), Rollup 4 (its CLI with @rollup/plugin-node-resolve,
//     browser: true) and Vite (`vite build`, no config file): no wasm plugin, loader, asset rule
//     or external; each bundle's sizes are printed. Then each page in headless Chromium
//     (playwright-core) on a COOP/COEP server, messages both ways with its worker. Skipped, saying
//     why, without Chromium (WASMBUS_CHROMIUM, default /usr/bin/chromium). The bundlers are this
//     repository's devDependencies, run from its node_modules (see "browser" below).
// Plain node (no tsx). Every child process runs under a timeout.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

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
  // a copy of the installed package outside node_modules, which app-path.ts imports by path
  await cp(join(dir, 'node_modules', 'wasmbus'), join(dir, 'vendor', 'wasmbus'), { recursive: true });
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
  // the TypeScript sources of dist/js (js/**/*.ts) are shipped, each the source of a map
  // (stop 50: Deno printed the wrong line of dist's JavaScript above every stack without them)
  const mapped = new Set();
  const { tarball } = packed;
  const dir = await getProject();
  const base = join(dir, 'node_modules/wasmbus');
  for (const f of files.filter((f) => f.endsWith('.js.map'))) {
    const map = JSON.parse(readFileSync(join(base, f), 'utf8'));
    // they carry their sources too (inlineSources), for tools that read only the map
    assert.ok(Array.isArray(map.sourcesContent) && map.sourcesContent.every((c) => typeof c === 'string'), `${f}: sourcesContent`);
    for (const src of map.sources) mapped.add(posix.normalize(posix.join(posix.dirname(f), map.sourceRoot ?? '', src)));
  }
  assert.equal([...mapped].filter((src) => !files.includes(src)), [], "every map's sources are in the package");
  const bad = files.filter((f) =>
    /^(tests|assembly|bench|demo|scripts|types|\.ci)\//.test(f) ||      // tests, tooling, the core's AssemblyScript
    (/^js\//.test(f) && !mapped.has(f)) ||                               // a source no map names
    (/\.ts$/.test(f) && !/\.d\.ts$/.test(f) && !mapped.has(f)) ||          // other TypeScript
    /\.d\.ts\.map$/.test(f) ||                                          // declaration maps (no sources to map to)
    /\.wasm\.map$|\.wat$/.test(f));
  assert.equal(bad, [], 'no tests, tooling, or files no map needs');
  // package.json's license has its LICENSE file
  const pkg = JSON.parse(readFileSync(join(base, 'package.json'), 'utf8'));
  assert.is(pkg.license, 'MIT');
  assert.match(readFileSync(join(base, 'LICENSE'), 'utf8'), /^MIT License/);
  assert.equal(pkg.dependencies ?? {}, {}, 'no runtime dependencies');
  assert.ok(tarball.endsWith('.tgz'));
});

/** The #anchors of a Markdown file's headings, as GitHub makes them (lower case, punctuation dropped, spaces to '-', repeats numbered). */
function anchorsOf(text) {
  const out = new Set(), seen = new Map();
  for (const line of text.replace(/```[\s\S]*?```/g, '').split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

s('tarball: every relative link of README.md and docs/*.md resolves inside the package, its #anchor too', async () => {
  const { files } = await getPacked();
  const dir = await getProject();
  const base = join(dir, 'node_modules/wasmbus');
  const broken = [];
  const anchors = new Map(); // doc -> its headings' anchors (since stop 50: one pointed at no heading, an outside audit)
  const anchorsIn = (doc) => anchors.get(doc) ?? anchors.set(doc, anchorsOf(readFileSync(join(base, doc), 'utf8'))).get(doc);
  for (const doc of files.filter((f) => f === 'README.md' || /^docs\/.*\.md$/.test(f))) {
    const text = readFileSync(join(base, doc), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue;
      const [file, anchor] = target.split('#');
      const path = file === '' ? doc : join(dirname(doc), file).split('\\').join('/');
      if (!files.includes(path) && !files.some((f) => f.startsWith(`${path.replace(/\/$/, '')}/`))) broken.push(`${doc}: ${target}`);
      else if (anchor !== undefined && path.endsWith('.md') && !anchorsIn(path).has(anchor)) broken.push(`${doc}: ${target} (no such heading)`);
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
  assert.match(out.hooks, /test-hooks build .* is not in the npm package/, 'hooks: true says why it fails');
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
  // a browser project: the DOM lib, no @types/node, a lib without esnext.disposable (our
  // declarations bring Symbol.dispose's type: js/host/disposable.ts)
  tsconfig.compilerOptions.lib = ['es2022', 'dom', 'dom.iterable'];
  tsconfig.compilerOptions.types = [];
  await writeFile(join(dir, 'tsconfig.web.json'), JSON.stringify(tsconfig, null, 2));
  ok(run(process.execPath, [TSC, '-p', 'tsconfig.web.json', '--noEmit', '--pretty', 'false'], { cwd: dir }), 'tsc --noEmit (lib es2022 + dom, no @types/node)');
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

s('deno: --allow-read (and --allow-sys): runs, credentials unknown (CREDS left out), and a warning says -A is needed', async () => {
  const dir = await getProject();
  const r = ok(run(DENO, ['run', '--allow-read', '--no-lock', 'main.mjs'], { cwd: dir }), 'deno run --allow-read main.mjs');
  const out = lastJSON(r);
  for (const x of out.rounds) assert.is(x.creds, null, "CREDS left out");
  assert.match(r.stderr, /wasmbus: the Deno provider cannot read this thread's credentials/);
  assert.match(r.stderr, / -A\b/);
  // --allow-sys gives Deno.uid() / Deno.gid(), the real ids only: still no CREDS (the effective,
  // saved and fs ids are not made up), and the same warning
  const sys = ok(run(DENO, ['run', '--allow-read', '--allow-sys=uid,gid', '--no-lock', 'main.mjs'], { cwd: dir }), 'deno run --allow-read --allow-sys=uid,gid');
  for (const x of lastJSON(sys).rounds) assert.is(x.creds, null, 'CREDS left out with --allow-sys too');
  assert.match(sys.stderr, /effective, saved and fs ids are not known/);
});

s('deno: no permission at all: the error names --allow-read', async () => {
  const dir = await getProject();
  const r = run(DENO, ['run', '--no-lock', 'main.mjs'], { cwd: dir });
  assert.is.not(r.code, 0, r.text);
  assert.match(r.stderr, /no permission to read \S*node_modules\/wasmbus\/build\/core\.wasm: run Deno with --allow-read/, r.text);
  assert.not.match(r.stderr, /npm run build/);
});

/** The frame `file:line` of an uncaught error's output that points into the package's sources, and the line it names. */
function packageFrame(r, dir) {
  const text = r.stderr.replace(/\x1b\[[0-9;]*m/g, ''); // (Node colours its stacks' paths on a terminal or not)
  const m = /(\/\S*node_modules\/wasmbus\/js\/connection\.ts):(\d+):\d+/.exec(text);
  assert.ok(m, `a frame in the package's js/connection.ts:\n${r.text}`);
  const path = m[1].replace(/^\/+/, '/'); // (Deno's are file:// URLs)
  assert.ok(existsSync(path) && path.startsWith(dir), `the frame's file exists, in the project: ${path}`);
  return readFileSync(path, 'utf8').split('\n')[Number(m[2]) - 1];
}

s("node and deno: an uncaught error from the package points at its TypeScript source, and the line shown is the throw's", async () => {
  const dir = await getProject();
  const node = run(process.execPath, ['--enable-source-maps', 'throws.mjs'], { cwd: dir });
  assert.is.not(node.code, 0, node.text);
  assert.match(node.stderr, /send: EINVAL: destination must be an id or a name/);
  assert.match(packageFrame(node, dir), /throw new BusError/, node.text);
  // Deno maps the positions and shows a line of the file the map names: without that file it
  // showed the JavaScript's line of the same number (another statement), stop 49
  const deno = run(DENO, ['run', '-A', '--no-lock', 'throws.mjs'], { cwd: dir });
  assert.is.not(deno.code, 0, deno.text);
  const line = packageFrame(deno, dir);
  assert.match(line, /throw new BusError/, deno.text);
  assert.ok(deno.stderr.includes(line.trim()), `the code frame shows it:\n${deno.text}`);
});

s('deno: check and run a typed consumer', async () => {
  const dir = await getProject();
  ok(run(DENO, ['check', '--no-lock', 'app.ts'], { cwd: dir }), 'deno check app.ts');
  const out = lastJSON(ok(run(DENO, ['run', '--allow-read', '--no-lock', 'app.ts'], { cwd: dir }), 'deno run app.ts'));
  assert.is(out.ok, true, JSON.stringify(out));
  // a copy imported by path: each module's @ts-self-types line (stop 49; every type-only export was refused)
  ok(run(DENO, ['check', '--no-lock', 'app-path.ts'], { cwd: dir }), 'deno check app-path.ts');
  const byPath = lastJSON(ok(run(DENO, ['run', '--allow-read', '--no-lock', 'app-path.ts'], { cwd: dir }), 'deno run app-path.ts'));
  assert.is(byPath.ok, true, JSON.stringify(byPath));
});

// ---------- browser ----------
//
// The same page (page.src.js) and module worker (worker.src.js) bundled by four bundlers, none
// with a plugin for wasm, a loader, an asset rule or any wasm setting: `wasmbus` resolves
// through the package's `browser` condition to one self-contained module with the core inlined.
// esbuild runs through its API (as before). webpack, Rollup and Vite run as their CLIs, taken
// from this repository's node_modules (devDependencies, pinned), with the bundler's own directory
// in the consumer project as cwd: `wasmbus` resolves from the importing file upward, i.e. from
// the consumer project's node_modules (the installed tarball), and nothing is downloaded.
// webpack and Vite follow `new Worker(new URL('./worker.js', import.meta.url))` and bundle the
// worker themselves; for esbuild and Rollup, which leave that URL as written, the worker is a
// second entry built next to the page.

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm' };
const BIN = {
  webpack: join(ROOT, 'node_modules/webpack/bin/webpack.js'), // finds webpack-cli next to it
  rollup: join(ROOT, 'node_modules/rollup/dist/bin/rollup'),
  vite: join(ROOT, 'node_modules/vite/bin/vite.js'),
};
const BUILD_TIMEOUT_MS = 120000;
// Rollup's usual way to find packages in node_modules; `browser: true` and the `browser` export
// condition pick dist/browser/wasmbus.js. The rollup CLI loads the plugin from its own node_modules.
const NODE_RESOLVE = "node-resolve={browser:true,exportConditions:['browser']}";

/**
 * The bundlers run by their CLIs: `src` is the directory (under the consumer project) holding
 * index.html, page.js and worker.js (copies of the fixture's page.html, page.src.js and
 * worker.src.js); `out` the output directory there; `builds` the commands; `warn` what a warning
 * looks like in the bundler's output.
 */
const BUNDLERS = [
  {
    name: 'webpack', title: 'webpack 5 CLI, no config file: webpack build ./page.js --mode production',
    out: 'www', warn: /\bWARNING\b|\bERROR\b/,
    // webpack's performance hints are about size (printed below, and in the README), not about
    // how it handled the package: those three blocks are left out of the check
    ignore: /WARNING in (asset size limit|entrypoint size limit|webpack performance recommendations)[^]*?(?=\n\s*\n|$)/g,
    builds: [[BIN.webpack, ['build', './page.js', '--mode', 'production', '--output-path', 'www', '--output-filename', 'page.js']]],
  },
  {
    name: 'rollup', title: `rollup 4 CLI, page and worker, --format es --plugin "${NODE_RESOLVE}"`,
    out: 'www', warn: /\(!\)/,
    builds: ['page', 'worker'].map((e) => [BIN.rollup, [`${e}.js`, '--format', 'es', '--file', `www/${e}.js`, '--plugin', NODE_RESOLVE]]),
  },
  {
    name: 'vite', title: 'vite build, no config file (index.html → page.js, the worker found by Vite)',
    out: 'dist', warn: /\(!\)|\bwarn(ing)?\b/i,
    builds: [[BIN.vite, ['build']]],
  },
];

/** The relative paths of the files under `dir`. */
function listFiles(dir, prefix = '') {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listFiles(dir, join(prefix, d.name)) : [join(prefix, d.name)]).sort();
}

/** One line of sizes: each JS file of the bundle, raw and gzipped. */
function sizes(name, www) {
  const js = listFiles(www).filter((f) => f.endsWith('.js'));
  const each = js.map((f) => {
    const b = readFileSync(join(www, f));
    return { f, raw: b.length, gz: gzipSync(b).length };
  });
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const total = each.reduce((a, x) => ({ raw: a.raw + x.raw, gz: a.gz + x.gz }), { raw: 0, gz: 0 });
  console.log(`  [${name}] ${each.map((x) => `${x.f} ${kib(x.raw)} (gzip ${kib(x.gz)})`).join(', ')}; total ${kib(total.raw)} (gzip ${kib(total.gz)})`);
}

/**
 * What every bundle must be: JavaScript only (no .wasm or other emitted asset), the browser
 * build's inlined core in it, and nothing of the Node build (no `node:` module, no URL of
 * build/core.wasm).
 */
function checkBundle(www, expect) {
  const files = listFiles(www);
  assert.equal(files.filter((f) => !/\.(js|html)$/.test(f)), [], 'only JavaScript (and the HTML page): no emitted asset');
  if (expect) expect(files);
  const js = files.filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(www, f), 'utf8')).join('\n');
  assert.ok(js.includes('AGFzbQ'), 'the inlined core (base64 of "\\0asm"): the browser condition was used');
  assert.not.match(js, /\bnode:[a-z]/, 'no node: import');
  assert.not.match(js, /build\/core\.wasm/, 'nothing of the Node build (its URL of build/core.wasm)');
}

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
  checkBundle(out);
  sizes('esbuild', out);
  await cp(join(dir, 'page.html'), join(out, 'index.html'));
  await cp(join(dir, 'node_modules/wasmbus/build/core.wasm'), join(out, 'core.wasm'));
});

/** esbuild `entry` of project `dir` into `out` (one ESM file for `platform`), through its API; `input`: a file of the package the bundle must hold. */
async function esbuildOne(dir, entry, out, platform, input) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: dir, entryPoints: [entry], outfile: join(dir, out), bundle: true, platform, format: 'esm',
    metafile: true, logLevel: 'silent', write: true,
  });
  assert.equal(result.errors, []);
  assert.ok(Object.keys(result.metafile.inputs).some((p) => p.includes(input)), `${entry}: the bundle holds ${input}`);
}

s('browser build outside a browser: the page bundle (esbuild) run by Node and by Deno, default provider WebProvider (no identity)', async () => {
  // (an outside audit, stop 23: it threw EOPNOTSUPP "the browser build of wasmbus has no
  // default provider: pass options.provider (e.g. MockProvider)" under both)
  const dir = await getProject();
  await esbuildOne(dir, 'server.src.js', 'srv/server.mjs', 'browser', 'node_modules/wasmbus/dist/browser/wasmbus.js');
  for (const [name, cmd, args] of [['node', process.execPath, ['srv/server.mjs']], ['deno', DENO, ['run', '--no-lock', 'srv/server.mjs']]]) {
    const r = ok(run(cmd, args, { cwd: dir }), `${name} srv/server.mjs`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.equal(out, { text: 'hello', creds: null, timestamp: 'bigint', check: [], names: ['Bus', 'BusError', 'DBusError', 'WasmEngine', 'TwinEngine', 'Connection'] }, `${name}: a message, real clocks, no identity, the classes' own names`);
  }
});

s('a Node bundle (esbuild --platform=node, the package inlined): a wasm bus says the core must be passed as `module`; passed, main and a worker of the bundle talk', async () => {
  // (an outside audit, stop 44: the bundle looked for build/core.wasm three directories above
  // itself and told its user to run npm run build or reinstall)
  const dir = await getProject();
  await esbuildOne(dir, 'node-bundle.src.js', 'nb/app.mjs', 'node', 'node_modules/wasmbus/dist/js/host/load.js');
  const plain = JSON.parse(ok(run(process.execPath, ['nb/app.mjs', 'plain'], { cwd: dir }), 'the bundle, plain').stdout.trim().split('\n').pop());
  assert.is(plain.ok, false);
  assert.match(plain.error, /^wasmbus: this copy of the package was bundled \(it runs from file:.*\/nb\/app\.mjs, not from its own dist\/js\/\), so it cannot find build\/core\.wasm by itself: ship node_modules\/wasmbus\/build\/core\.wasm with the bundle and pass it compiled, Bus\.create\(\{ module: await WebAssembly\.compile\(bytes\) \}\)/);
  await cp(join(dir, 'node_modules/wasmbus/build/core.wasm'), join(dir, 'nb', 'core.wasm'));
  const withModule = JSON.parse(ok(run(process.execPath, ['nb/app.mjs', 'module'], { cwd: dir }), 'the bundle, module').stdout.trim().split('\n').pop());
  assert.equal(withModule, { ok: true, reply: 'echo hi', module: true, check: [] });
});

s('two copies of the package in one program: errors are each other\'s (instanceof), a DBusError of one answered by the other\'s dispatch keeps its name, a Message of one refused by the other as such', async () => {
  const dir = await getProject();
  await cp(join(dir, 'node_modules/wasmbus'), join(dir, 'vendor/wasmbus'), { recursive: true });
  const r = ok(run(process.execPath, ['two-copies.mjs'], { cwd: dir }), 'two-copies.mjs');
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  for (const engine of ['wasm', 'twin']) {
    assert.equal(out[engine], {
      busError: 'ENXIO', plainError: false, dbusError: 'o.e.Error.Custom: boom A',
      foreign: 'dispatch: EINVAL: msg must be a received Message, got a Message of another copy of wasmbus (the package is loaded twice in this program: use the copy that received it)',
      check: [],
    }, engine);
  }
});

for (const b of BUNDLERS) {
  s(`browser: ${b.title}`, async () => {
    const dir = await getProject();
    const src = join(dir, b.name);
    await mkdir(src);
    await cp(join(dir, 'page.html'), join(src, 'index.html'));
    await cp(join(dir, 'page.src.js'), join(src, 'page.js'));
    await cp(join(dir, 'worker.src.js'), join(src, 'worker.js'));
    let log = '';
    for (const [bin, args] of b.builds) {
      // FORCE_COLOR (set by some runners) with NO_COLOR makes Node print a warning: unset it
      const r = ok(run(process.execPath, [bin, ...args], { cwd: src, timeout: BUILD_TIMEOUT_MS, env: { FORCE_COLOR: undefined } }), `${b.name} build`);
      log += r.stdout + r.stderr;
    }
    const checked = b.ignore ? log.replace(b.ignore, '') : log;
    assert.not.match(checked, b.warn, `no warning from ${b.name}:\n${log}`);
    const www = join(src, b.out);
    checkBundle(www, (files) => {
      if (b.name === 'rollup') assert.equal(files, ['page.js', 'worker.js']);
      if (b.name === 'vite') {
        assert.ok(files.includes('index.html'), `index.html: ${files}`);
        assert.is(files.filter((f) => /^assets\/worker-[\w-]+\.js$/.test(f)).length, 1, `Vite emitted the worker: ${files}`);
      }
      if (b.name === 'webpack') assert.ok(files.length >= 2 && files.includes('page.js'), `page.js and the worker's chunks: ${files}`);
    });
    sizes(b.name, www);
    if (!existsSync(join(www, 'index.html'))) await cp(join(dir, 'page.html'), join(www, 'index.html'));
    await cp(join(dir, 'node_modules/wasmbus/build/core.wasm'), join(www, 'core.wasm')); // for the page's comparison fetch
  });
}

/** Serve `www` with COOP/COEP, open it in headless Chromium and check the page's result. */
async function pageInChromium(name, www) {
  const fetched = [], missing = [];
  const server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url, 'http://x').pathname.slice(1)) || 'index.html';
    if (name === 'favicon.ico') { res.writeHead(204); res.end(); return; }
    fetched.push(name);
    const file = join(www, name);
    if (!name.split('/').every((p) => /^[\w.-]+$/.test(p) && p !== '..') || !existsSync(file)) { missing.push(name); res.writeHead(404); res.end(); return; }
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
    assert.is(r.reply, 'got: hello worker', 'main thread → worker → main thread');
    assert.is(r.creds.uid, 2000, "the worker's mocked credentials");
    assert.is(r.webCall, 'ETIMEDOUT', 'a bus with the default provider (WebProvider): a call times out in real time');
    assert.match(r.twinHooks, /^EOPNOTSUPP: TwinEngine: EOPNOTSUPP: the browser build has no hooks build of the core/, 'the browser build leaves the twin\'s hooks core out');
    assert.equal(problems, [], `no page error (404: ${missing})`);
    assert.equal(fetched.filter((f) => f.endsWith('.wasm')), ['core.wasm'], 'only the comparison fetch: the package fetched no wasm');
    const ms = (x) => `${x.toFixed(1)} ms`;
    console.log(`  [chromium, ${name}] inlined core (${r.wasmBytes} bytes, ${r.base64Chars} base64 chars): loadCore() ${ms(r.loadCoreMs)} ` +
      `(decode + compile, cold), of which decode ${ms(r.decodeMs)}; fetching the same file from 127.0.0.1: ${ms(r.fetchMs)}`);
  } finally {
    await Promise.race([context?.close(), new Promise((r) => setTimeout(r, 15000).unref())]).catch(() => {});
    server.close();
    await rm(profile, { recursive: true, force: true }).catch(() => {});
  }
}

const PAGES = [['esbuild', 'www'], ...BUNDLERS.map((b) => [b.name, join(b.name, b.out)])];
if (!existsSync(CHROMIUM)) {
  console.log(`consumer browser tests skipped: chromium not installed at ${CHROMIUM} (apt-get install -y chromium, or set WASMBUS_CHROMIUM)`);
  for (const [name] of PAGES) s.skip(`browser: the ${name} bundle (page + worker) in headless Chromium`);
} else {
  for (const [name, out] of PAGES) {
    s(`browser: the ${name} bundle (page + worker) in headless Chromium`, async () => {
      const dir = await getProject();
      const www = join(dir, out);
      assert.ok(existsSync(join(www, 'index.html')), `the ${name} bundle test ran first`);
      await pageInChromium(name, www);
    });
  }
}

s.run();
