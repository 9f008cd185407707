#!/usr/bin/env node
// Test orchestrator (`npm test`).
//
// Runs every entry of RUNS as a child process in its own process group, with NO_COLOR=1 and a
// hard timeout (the whole group is killed; the run counts as failed). Output is streamed live.
// uvu's summary ("Total:", "Passed:", "Skipped:") is parsed from each run's stdout; uvu's Total
// counts the tests that ran (skipped ones are not in it) and it prints no "Failed:" line, so
// failed = Total - Passed. A run that ends without a summary, or exits non-zero with no failed
// test counted, counts as 1 failed. The last line is `N passed, N failed[, N skipped]`, after a
// recap of what failed (each failed test's title and message, or the run's note); the exit
// code is 1 if anything failed.
//
// A run must also find its tests. A uvu run whose directory has no file matching its pattern is
// not started and counts as 1 failed. A run that reports fewer tests (ran + skipped) than its
// suite's minimum in MIN_TESTS (tests/min-tests.mjs) counts as 1 failed, and so does any run that reports zero
// tests (with arguments after `--` the minimum is 1). Under CI (CI set to anything but
// "" / "0" / "false"), a run that skipped tests counts as 1 failed, unless the run allows that
// skip and printed the reason it allows (only the browser run: Chromium not installed).
//
// The runs: each suite under Node (through tsx) and under Deno (the npm package's binary,
// running the .ts sources directly): tests/conformance and tests/threads once per engine
// (WASMBUS_ENGINE picks the main thread's engine), tests/diff and the mixed-engine thread
// tests once; and tests/threads/dist.test.mjs under plain node from a fresh dist/, then
// tests/demo (npm start's output) on that dist/. Then the
// browser run: tests/browser under plain node from a fresh dist/, driving headless Chromium
// (playwright-core, /usr/bin/chromium) through the demo page; then, once per engine, the
// conformance suite in a Chromium worker (tests/browser/conformance.test.mjs, from the sources);
// both skip their Chromium tests, saying why, when Chromium is not installed. Last the consumer run: tests/consumer under plain
// node packs the package (npm run build, npm pack), installs the tarball offline into an empty
// project and runs it there under Node, Deno, tsc, esbuild and Chromium.
//
// Environment:
//   WASMBUS_ENGINE        wasm | twin | both (default both): which engine runs get made
//   WASMBUS_RUNTIME       node | deno | browser | consumer | all (default all; both = all):
//                         which runtimes run the suites
//   WASMBUS_TEST_TIMEOUT  per-run timeout in seconds (default 300; the thread and browser runs: 180)
//   CI                    set (not "", "0" or "false"): skipped tests fail the run (see above)
// Arguments (optional) replace uvu's `<dir> <pattern>` of the per-engine runs (the other runs
// and the browser run are skipped), e.g.
//   npm test -- tests/conformance 'send\.test\.ts$'
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse as uvuParse } from 'uvu/parse';
import { MIN_TESTS } from './min-tests.mjs';

const CI = !['', '0', 'false'].includes(process.env.CI ?? '');

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = process.execPath;
const DEFAULT_TIMEOUT_S = Number(process.env.WASMBUS_TEST_TIMEOUT) || 300;

// `node --import tsx` keeps test files real ESM (top-level await, import.meta). `uvu -r tsx`
// would load them through tsx's CommonJS hook instead, where top-level await fails. Deno runs
// uvu's bin itself, resolving uvu's dependencies from node_modules (no registry access).
const ARGS = process.argv.length > 2 ? process.argv.slice(2) : null;
const TS = '.*\\.test\\.ts$';
const DENO = 'node_modules/.bin/deno';
const THREADS_TIMEOUT_S = Number(process.env.WASMBUS_TEST_TIMEOUT) || 180;
const BROWSER_TIMEOUT_S = Number(process.env.WASMBUS_TEST_TIMEOUT) || 180;
const CONSUMER_TIMEOUT_S = Number(process.env.WASMBUS_TEST_TIMEOUT) || 420;
const BROWSER_CONFORMANCE_TIMEOUT_S = Number(process.env.WASMBUS_TEST_TIMEOUT) || 600;
const UVU = 'node_modules/uvu/bin.js';
/**
 * One uvu run of `rt` ('node' | 'deno'); `uvu` is uvu's arguments (dir, pattern, then `-i
 * <ignore>` pairs); `suite` the key of its minimum in MIN_TESTS (null: at least 1 test).
 */
function uvuRun(rt, label, engine, uvu, timeout, suite = label) {
  return {
    name: `${rt} uvu ${label} (${engine})`,
    cmd: rt === 'node' ? NODE : DENO,
    args: rt === 'node' ? ['--import', 'tsx', UVU, ...uvu] : ['run', '-A', '--no-lock', UVU, ...uvu],
    env: { WASMBUS_ENGINE: engine },
    timeout,
    files: uvuFiles(uvu),
    min: minTests(suite, engine),
  };
}

/** uvu's selection of test files: [dir, pattern, ignores] from its arguments. */
function uvuFiles([dir, pattern, ...rest]) {
  const ignore = [];
  for (let i = 0; i < rest.length; i++) if (rest[i] === '-i') ignore.push(rest[++i]);
  return { dir, pattern, ignore };
}

function minTests(suite, engine) {
  const m = suite === null ? 1 : MIN_TESTS[suite];
  if (m === undefined) throw new Error(`run.mjs: no MIN_TESTS entry for ${suite}`);
  return Math.max(1, typeof m === 'function' ? m(engine) : m);
}

const ENGINE = process.env.WASMBUS_ENGINE || 'both';
const ENGINES = { both: ['wasm', 'twin'], wasm: ['wasm'], twin: ['twin'] }[ENGINE];
if (!ENGINES) {
  console.error(`WASMBUS_ENGINE must be wasm, twin or both, not ${JSON.stringify(ENGINE)}`);
  process.exit(2);
}
const RUNTIME = process.env.WASMBUS_RUNTIME || 'all';
const ALL = ['node', 'deno', 'browser', 'consumer'];
const RUNTIMES = { all: ALL, both: ALL, node: ['node'], deno: ['deno'], browser: ['browser'], consumer: ['consumer'] }[RUNTIME];
if (!RUNTIMES) {
  console.error(`WASMBUS_RUNTIME must be node, deno, browser, consumer or all, not ${JSON.stringify(RUNTIME)}`);
  process.exit(2);
}

// The runs, in order. Each: { name, cmd, args, env?, timeout? (seconds) }.
const RUNS = [];
for (const rt of RUNTIMES) {
  if (rt === 'consumer') {
    // the packed tarball installed into empty projects (tests/consumer/consumer.test.mjs)
    if (!ARGS) {
      RUNS.push({
        name: 'node uvu tests/consumer (npm pack, installed: node, deno, tsc, esbuild/webpack/rollup/vite + chromium)',
        cmd: NODE,
        args: [UVU, 'tests/consumer', 'consumer\\.test\\.mjs$'],
        timeout: CONSUMER_TIMEOUT_S,
        files: { dir: 'tests/consumer', pattern: 'consumer\\.test\\.mjs$', ignore: [] },
        min: minTests('tests/consumer', 'both'),
        // without Chromium, its four browser tests are skipped (the reason is printed)
        allowSkip: /chromium not installed\b.*$/m,
      });
    }
    continue;
  }
  if (rt === 'browser') {
    // the demo page in headless Chromium, from a fresh dist/; the page / worker engine pairings
    // follow WASMBUS_ENGINE (both: all four)
    if (!ARGS) {
      RUNS.push({
        name: `node uvu tests/browser (chromium, ${ENGINE})`,
        cmd: 'sh',
        args: ['-c', `"${NODE}" node_modules/typescript/bin/tsc -p tsconfig.build.json && "${NODE}" scripts/build-dist.mjs && "${NODE}" ${UVU} tests/browser 'browser\\.test\\.mjs$'`],
        env: { WASMBUS_ENGINE: ENGINE },
        timeout: BROWSER_TIMEOUT_S,
        files: { dir: 'tests/browser', pattern: 'browser\\.test\\.mjs$', ignore: [] },
        min: minTests('tests/browser', ENGINE),
        // the one skip CI accepts, when the run printed this reason
        allowSkip: /^browser tests skipped: chromium not installed\b.*$/m,
      });
      // the conformance suite in a Chromium worker, from the sources, once per engine
      RUNS.push(...ENGINES.map((e) => ({
        name: `node uvu tests/browser conformance (chromium worker, ${e})`,
        cmd: NODE,
        args: [UVU, 'tests/browser', 'conformance\\.test\\.mjs$'],
        env: { WASMBUS_ENGINE: e },
        timeout: BROWSER_CONFORMANCE_TIMEOUT_S,
        files: { dir: 'tests/browser', pattern: 'conformance\\.test\\.mjs$', ignore: [] },
        min: minTests('tests/browser conformance', e),
        allowSkip: /^browser tests skipped: chromium not installed\b.*$/m,
      })));
    }
    continue;
  }
  RUNS.push(...ENGINES.map((e) => ARGS
    ? uvuRun(rt, ARGS.join(' '), e, ARGS, undefined, null)
    : uvuRun(rt, 'tests/conformance', e, ['tests/conformance', TS])));
  if (ARGS) continue;
  RUNS.push(uvuRun(rt, 'tests/diff', 'both', ['tests/diff', TS]));
  RUNS.push(rt === 'node'
    ? uvuRun(rt, 'tests/unit', 'both', ['tests/unit', TS])
    : uvuRun(rt, 'tests/unit', 'both', ['tests/unit', TS], undefined, 'tests/unit deno'));
  RUNS.push(...ENGINES.map((e) => uvuRun(rt, 'tests/threads', e, ['tests/threads', TS, '-i', 'mixed\\.test', '-i', 'stress\\.test'], THREADS_TIMEOUT_S, rt === 'node' ? 'tests/threads' : 'tests/threads deno')));
  // the stress tests (2-8 workers on 2 cores), in a process of their own
  RUNS.push(...ENGINES.map((e) => uvuRun(rt, 'tests/threads stress', e, ['tests/threads', 'stress\\.test\\.ts$'], THREADS_TIMEOUT_S)));
  RUNS.push(uvuRun(rt, 'tests/threads mixed', 'both', ['tests/threads', 'mixed\\.test\\.ts$'], THREADS_TIMEOUT_S));
  if (rt === 'node') {
    // the published build: dist/ made fresh from the sources, then plain node (no tsx) loads it
    RUNS.push({
      name: 'node uvu tests/threads dist (plain node, fresh dist/)',
      cmd: 'sh',
      args: ['-c', `"${NODE}" node_modules/typescript/bin/tsc -p tsconfig.build.json && "${NODE}" scripts/build-dist.mjs && "${NODE}" ${UVU} tests/threads 'dist\\.test\\.mjs$'`],
      timeout: THREADS_TIMEOUT_S,
      files: { dir: 'tests/threads', pattern: 'dist\\.test\\.mjs$', ignore: [] },
      min: minTests('tests/threads dist', 'both'),
    });
    // npm start (demo/hello.mjs, on dist/ as just built): its output, exit code and time; and the
    // README's three-thread example (demo/threads/main.mjs), its code checked against README.md
    RUNS.push({
      name: 'node uvu tests/demo (npm start, the README example)', cmd: NODE, args: [UVU, 'tests/demo', '(start|readme)\\.test\\.mjs$'], env: { WASMBUS_ENGINE: ENGINE }, timeout: 60,
      files: { dir: 'tests/demo', pattern: '(start|readme)\\.test\\.mjs$', ignore: [] },
      min: minTests('tests/demo', ENGINE),
    });
  }
}

const live = new Set(); // process groups still running, killed if we are interrupted
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const pid of live) killGroup(pid, 'SIGKILL');
    process.exit(130);
  });
}

function killGroup(pid, signal) {
  try { process.kill(-pid, signal); } catch { /* already gone */ }
}

/** Runs one entry; resolves to { code, signal, timedOut, stdout, seconds }. */
function execute(run) {
  const timeoutS = run.timeout ?? DEFAULT_TIMEOUT_S;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(run.cmd, run.args, {
      cwd: ROOT,
      env: { ...process.env, ...run.env, NO_COLOR: '1', FORCE_COLOR: undefined },
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true, // own process group, so a timeout kills grandchildren too
    });
    let stdout = '';
    let timedOut = false;
    let exit = null;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      live.delete(child.pid);
      resolve({ ...exit, timedOut, stdout, seconds: (Date.now() - started) / 1000 });
    };
    let grace;
    const timer = setTimeout(() => {
      timedOut = true;
      process.stdout.write(`\n[run.mjs] "${run.name}" timed out after ${timeoutS} s: killing its process group\n`);
      killGroup(child.pid, 'SIGTERM');
      setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5000).unref();
    }, timeoutS * 1000);
    if (child.pid !== undefined) live.add(child.pid);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => { stdout += chunk; process.stdout.write(chunk); });
    child.on('error', (err) => { exit = { code: null, signal: null, error: err.message }; finish(); });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      killGroup(child.pid, 'SIGKILL'); // leftovers of this run must not outlive it
      grace = setTimeout(finish, 2000); // in case something else still holds the pipe
    });
    child.on('close', () => { if (exit) finish(); });
  });
}

/** uvu's summary of one run, or null when it printed none. */
function parseSummary(text) {
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  const last = (label) => {
    const all = [...plain.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, 'gm'))];
    return all.length ? Number(all[all.length - 1][1]) : null;
  };
  const total = last('Total'), passed = last('Passed'), skipped = last('Skipped');
  if (total === null || passed === null) return null;
  return { passed, failed: Math.max(0, total - passed), skipped: skipped ?? 0, total };
}

/** How many files uvu would load for this selection (its own parser, so it cannot disagree). */
async function countFiles({ dir, pattern, ignore }) {
  try {
    return (await uvuParse(dir, pattern, { cwd: ROOT, ignore })).suites.length;
  } catch {
    return 0; // no such directory
  }
}

/**
 * The failed tests of one run's output: uvu's FAIL line and the message line under it, each
 * as one line. Printed again at the very end (a record that keeps only the tail of the run
 * lost the message of a test that failed once in Chromium: stop 48's CI).
 */
function failures(text) {
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  return [...plain.matchAll(/^\s*FAIL\s+(.*)\n\s*(.*)/gm)].map((f) => `${f[1].trim()}: ${f[2].trim()}`.slice(0, 600));
}

let passed = 0, failed = 0, skipped = 0, badExit = false;
/** "run: what failed" lines, for the recap above the last line */
const recap = [];
for (const run of RUNS) {
  process.stdout.write(`\n=== ${run.name}: ${[run.cmd === NODE ? 'node' : run.cmd, ...run.args].join(' ')}\n`);
  const nFiles = await countFiles(run.files);
  if (nFiles === 0) {
    // nothing to run: that is a failure, not an empty success
    failed += 1;
    badExit = true;
    process.stdout.write(`=== ${run.name}: not run: no test file in ${run.files.dir} matches ${run.files.pattern}; failed 1\n`);
    continue;
  }
  const r = await execute(run);
  const summary = parseSummary(r.stdout);
  const s = summary ?? { passed: 0, failed: 0, skipped: 0, total: 0 };
  const ok = r.code === 0 && !r.timedOut;
  const notes = [];
  if ((!ok || !summary) && s.failed === 0) {
    s.failed = 1; // crashed, timed out, or ended without a summary or a failed test: count the run itself
    notes.push(r.timedOut ? 'timed out' : r.error ? r.error : !summary ? 'no uvu summary' : 'no failed test reported');
  }
  if (summary) {
    const found = s.total + s.skipped;
    if (found < run.min) {
      s.failed += 1;
      notes.push(found === 0 ? `found no tests in ${nFiles} file(s)` : `found ${found} tests in ${nFiles} file(s), expected at least ${run.min}`);
    }
    if (CI && s.skipped > 0) {
      const reason = run.allowSkip ? r.stdout.match(run.allowSkip) : null;
      if (reason) notes.push(`${s.skipped} skipped, allowed under CI: ${reason[0].trim()}`);
      else {
        s.failed += 1;
        notes.push(`${s.skipped} skipped under CI: skips are not allowed here`);
      }
    }
  }
  if (!ok) badExit = true;
  if (s.failed > 0) {
    const f = failures(r.stdout);
    recap.push(...(f.length ? f.map((x) => `${run.name}: ${x}`) : [`${run.name}: ${notes.join('; ') || 'failed'}`]));
  }
  passed += s.passed; failed += s.failed; skipped += s.skipped;
  process.stdout.write(
    `=== ${run.name}: exit ${r.code ?? r.signal}${notes.length ? ` (${notes.join('; ')})` : ''}; passed ${s.passed}, failed ${s.failed}, ` +
    `skipped ${s.skipped}; ${r.seconds.toFixed(1)} s\n`,
  );
}

if (recap.length) process.stdout.write(`\nwhat failed:\n${recap.map((x) => `  ${x}`).join('\n')}\n`);
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed > 0 || badExit ? 1 : 0;
