#!/usr/bin/env node
// Test orchestrator (`npm test`).
//
// Runs every entry of RUNS as a child process in its own process group, with NO_COLOR=1 and a
// hard timeout (the whole group is killed; the run counts as failed). Output is streamed live.
// uvu's summary ("Total:", "Passed:", "Skipped:") is parsed from each run's stdout; uvu's Total
// counts the tests that ran (skipped ones are not in it) and it prints no "Failed:" line, so
// failed = Total - Passed. A run that ends without a summary, or exits non-zero with no failed
// test counted, counts as 1 failed. The last line is `N passed, N failed[, N skipped]`; the exit
// code is 1 if anything failed.
//
// A run must also find its tests. A uvu run whose directory has no file matching its pattern is
// not started and counts as 1 failed. A run that reports fewer tests (ran + skipped) than its
// suite's minimum in MIN_TESTS below counts as 1 failed, and so does any run that reports zero
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
// (playwright-core, /usr/bin/chromium) through the demo page; it skips its Chromium tests,
// saying why, when Chromium is not installed. Last the consumer run: tests/consumer under plain
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

/**
 * The fewest tests (ran + skipped) each suite must report per run: a file that stopped
 * loading, a suite that lost its run() call or a pattern that matches too little fails the
 * run instead of passing quietly. Counts are per engine run. When you add tests, raise the
 * number; lower it only when you remove tests on purpose.
 */
const MIN_TESTS = {
  'tests/conformance': 453, // stop 20: refused calls do not wake each other +1, a thread's own wake-ups leave its timers their turns +3, ETIMEDOUT behind a refused call +1; stop 19: a slice handed out twice +2, for await's shutdown +1, SEND_MANY_MAX +1, a send by name behind its connection's earlier ones +1, for await's batches +2, a waiting send's own copy +1, one shared wait per line +1, sendMany audit +2, waitForName's closed connection +1, pendingReceives +1; stop 18: SEND_BATCH / sendMany +10, RECV_BATCH and the listener's batches +12; stop 17: audits +12 (one abort listener per thread x3, bus.close ends waitForName, a non-core module, watch after shutdown, close({ drop }) x3, a name that moves keeps call order x3); stop 16: own-changes audit +1, calls audit +4, the slot line's own times +1, audits: unique names +1, provider answers +1, handler errors +1, OWNED_NAME sender +1, stop-15 audits +10 (HELLO's sleeper counts, a dead thread's pending call, a clock read's re-entry, shutdown's ESHUTDOWN, watch from the loop, recoverThreadAsync, the busy word, a dead holder's grace, MatchRule objects x2, lock timeouts), a pump's lock taken +1, options read once +1, threads audit +5, docs audit +1, re-entry +6, stop-14 audit +2, second audit +3, listen audit +3, burst spin +1, iterator options checked once +1, listen +10, close() EBUSY loses no call +1, replies 0 +1, third audit +3, errors name the method +1, addMatch/dispatch/waitForName args, refusals after shutdown +2, the pump stops +1, stop-12 audit fixes +12, stats of names, matches and calls +1, a receiver's close wakes its whole line +1, calls that lost their slot do not poll +1, a raw-ABI call's end while call() waits +1, RECV_REPLY 0 +1, dispatch's reply waits for room +1, call backpressure +4, call waits for a reply record +1, drop() with calls pending +1, a call abandoned on EDEADLK +1, a passer skips dead tickets +1, notifications owed by a dead thread +1, monitor export/dispatch +1, RECV_REPLY +1, call flood +1, SEND_PROBE +1, sendAsync fails at once +1, name moves +1, iterator promise +1, iterator return +1, a call's op +1, unsendable reply +1, kdbus envelope checks +1, mock real clock +1, async lock waits +3, dropped REPLY_TIMEOUT +3, kept messages queued +1, shutdown on the creator's thread +1, timer range +1, reply on another bus +1, EXFULL park +1, wake after unlock +1, deadlines +4, lossless2 +15, lossless broadcasts +11, match replace fix +1, inline send +1, replies +11, matches +9, shutdown +5, iterate +4, names +17, metadata +10, calls +9, signals +7, backpressure +10, handlers +7, owned names +6, turns +6, dropped +2, bcast names/staging +15, monitors +6, activators +6, recovery +4
  'tests/diff': 37, // stop 18: batches differential +6; calls differential +6, 8 seeds × 2 (differential) + 4 fuzz seeds + 4 more, owned names +1 (the mix's OWNED_NAME / TRUNCATED tally)
  'tests/threads': 45, // stop 19: the line's timers keep nothing alive +1; listen +1, waits on a dead lock leave the loop free +1, a burst of 1000 calls +1, one clock +1, evloop keep-alive timeouts +1, lossless2 +1, lossless broadcasts +1, inline send +1, calls +2, deathlock +2, handlers +3, owned names +1, turns +1, monitors +1 (stress: its own run below)
  'tests/threads deno': 51, // stop 19: a worker that comes and goes between a watch's looks +1, the line's timers keep nothing alive +1; stop 17: watchLock after shutdown +1; listen +1, waits on a dead lock leave the loop free +1, a burst of 1000 calls +1, one clock +1, evloop keep-alive timeouts +1, lossless2 +1, lossless broadcasts +1, inline send +1, deathlock +6 on Deno (it has Web Locks), handlers +3, owned names +1, turns +1, monitors +1
  'tests/threads mixed': 2,
  // 3 per engine, + the mixed-engine variant on the wasm run; broadcasts +2 per engine (one mixed)
  'tests/threads stress': (engine) => (engine === 'wasm' ? 6 : 5),
  'tests/threads dist': 4,
  // npm start's output, once per engine (2 with WASMBUS_ENGINE=both) + the bad-argument run,
  // + the README's three-thread example (demo/threads/; readme +1)
  'tests/demo': 3,
  // engine-independent unit tests (providers, the D-Bus codec, bloom filters and match
  // strings): all under Node, and under Deno too
  'tests/unit': 59, // stop 19: the line's watch +3; stop 17: API.md's members declared +1; stop-16 audit: U+FEFF, dict keys and plain objects, header keys +3; dbus refusals +1, clocks +1, kept header and bloom bits +2; dbusperf +3
  'tests/unit deno': 51, // stop 19: the line's watch +3; stop 17: API.md's members declared +1; stop-16 audit: U+FEFF, dict keys and plain objects, header keys +3; dbus refusals +1, clocks +1, kept header and bloom bits +2; dbusperf +3
  // 8 + a build per bundler (esbuild, webpack, Rollup, Vite) + each bundle in Chromium
  'tests/consumer': 16,
  // 2 server tests + one per page / worker engine pairing (4 with WASMBUS_ENGINE=both, else 1)
  // + 3 dead-worker tests (watchLock after terminate(), self.close(), a top-level throw)
  // + 1 page listener under a flood + 1 recoverThreadAsync of a worker still running
  // + 1 page sendAsync against a taken lock (stop 22)
  'tests/browser': (engine) => 2 + (engine === 'both' ? 4 : 1) + 3 + 1 + 1 + 1,
};
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

let passed = 0, failed = 0, skipped = 0, badExit = false;
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
  passed += s.passed; failed += s.failed; skipped += s.skipped;
  process.stdout.write(
    `=== ${run.name}: exit ${r.code ?? r.signal}${notes.length ? ` (${notes.join('; ')})` : ''}; passed ${s.passed}, failed ${s.failed}, ` +
    `skipped ${s.skipped}; ${r.seconds.toFixed(1)} s\n`,
  );
}

process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed > 0 || badExit ? 1 : 0;
