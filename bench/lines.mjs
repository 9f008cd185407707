// Which 64-byte lines of the bus memory a unicast message touches (npm run bench:lines [depth]):
// the twin core (the same source as the wasm one) run with its memory functions traced: a
// copy of dist/ is made in a temporary directory, its js/twin/mem.js patched so that every
// load, store, atomic, copy and fill the core makes records its lines, and a stream held
// `depth` messages deep (default 16) is traced for 64 messages: each step one SEND, then one
// RECV + FREE, as a sender thread and its receiver do. Printed per line: how often (per
// message) the send read and wrote it, and the receive + free; SHARED marks a line written by
// one side and touched by the other, which two threads on two cores hand back and forth (a
// cache-line transfer each time: `npm run bench:handoff`; stop 37 measured 0.14-0.39 µs for
// one hand-off on this VM). The calling thread's own slot (command area, journal, arena) is
// left out: it is per thread in a real run. The host's own reads and writes (the JavaScript of
// send() and of a Message) are not traced: the core's only.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'wasmbus-lines-'));
try {
  cpSync(join(root, 'dist'), join(tmp, 'dist'), { recursive: true });
  cpSync(join(root, 'build'), join(tmp, 'build'), { recursive: true });
  const memJs = join(tmp, 'dist/js/twin/mem.js');
  let s = readFileSync(memJs, 'utf8');
  const patch = {
    'export function ld32(p) {': 'export function ld32(p) { TR.r(p, 4);',
    'export function st32(p, v) {': 'export function st32(p, v) { TR.w(p, 4);',
    'export function ldi32(p) {': 'export function ldi32(p) { TR.r(p, 4);',
    'export function ld8(p) {': 'export function ld8(p) { TR.r(p, 1);',
    'export function st64(p, lo, hi) {': 'export function st64(p, lo, hi) { TR.w(p, 8);',
    'export function copy(dst, src, n) {': 'export function copy(dst, src, n) { TR.r(src, n); TR.w(dst, n);',
    'export function fill(dst, v, n) {': 'export function fill(dst, v, n) { TR.w(dst, n);',
    'export function aLoad(p) {': 'export function aLoad(p) { TR.r(p, 4);',
    'export function aStore(p, v) {': 'export function aStore(p, v) { TR.w(p, 4);',
    'export function aCas(p, expected, v) {': 'export function aCas(p, expected, v) { TR.w(p, 4);',
    'export function aXchg(p, v) {': 'export function aXchg(p, v) { TR.w(p, 4);',
    'export function aAdd(p, v) {': 'export function aAdd(p, v) { TR.w(p, 4);',
    'export function aSub(p, v) {': 'export function aSub(p, v) { TR.w(p, 4);',
  };
  for (const [from, to] of Object.entries(patch)) {
    if (!s.includes(from)) throw new Error(`bench/lines: dist/js/twin/mem.js has no "${from}" any more: update the patch list`);
    s = s.replace(from, to);
  }
  const tracer = 'const TR = globalThis.__wasmbusLines ??= { on: false, R: new Map(), W: new Map(),\n' +
    '  r(p, n) { if (this.on) for (let l = p >>> 6; l <= (p + n - 1) >>> 6; l++) this.R.set(l, (this.R.get(l) ?? 0) + 1); },\n' +
    '  w(p, n) { if (this.on) for (let l = p >>> 6; l <= (p + n - 1) >>> 6; l++) this.W.set(l, (this.W.get(l) ?? 0) + 1); } };\n';
  writeFileSync(memJs, tracer + s);

  const dist = pathToFileURL(join(tmp, 'dist')).href;
  const { Bus, MockProvider } = await import(dist + '/js/index.js');
  const A = await import(dist + '/js/shared/abi.js');
  const DEPTH = Number(process.argv[2] ?? 16), N = 64;
  const bus = await Bus.create({ engine: 'twin', provider: new MockProvider() });
  const a = bus.connect(), c = bus.connect();
  const p64 = new Uint8Array(64);
  const u32 = a.engine.u32, H = A.BUS_BASE;
  const at = (k) => u32[(H + A[k]) >>> 2];
  const threads = at('BUS_THREADS'), nThreads = at('BUS_N_THREADS'), conns = at('BUS_CONNS'), nConns = at('BUS_N_CONNS');
  const tables = ['BUS_NAMES', 'BUS_MATCHES', 'BUS_REPLIES', 'BUS_METAS', 'BUS_POOLS', 'BUS_IDS', 'BUS_PUBMAPS', 'BUS_LIVENESS', 'BUS_LEFT']
    .map((k) => [k, at(k)]).sort((x, y) => x[1] - y[1]);
  const slotOf = (conn) => { for (let i = 0; i < nConns; i++) if (u32[(conns + i * A.CONN_SIZE + A.CONN_ID) >>> 2] === conn.id) return i; return -1; };
  const sa = slotOf(a), sc = slotOf(c);
  const cAddr = conns + sc * A.CONN_SIZE, pool = u32[(cAddr + A.CONN_POOL) >>> 2], poolEnd = pool + u32[(cAddr + A.CONN_POOL_SIZE) >>> 2];
  const fields = (prefix, off, skip) => Object.entries(A).filter(([k, v]) => k.startsWith(prefix) && typeof v === 'number' && v >= off && v < off + 64 && !skip.test(k)).map(([k]) => k).join(' ');
  const label = (line) => {
    const p = line * 64;
    if (p >= H && p < H + A.BUS_SIZE) return `bus header +${p - H}: ${fields('BUS_', p - H, /BASE|MAGIC$|SIZE$/)}`;
    if (p >= threads && p < threads + nThreads * A.THREAD_SIZE) return 'thread';
    if (p >= conns && p < conns + nConns * A.CONN_SIZE) {
      const i = Math.floor((p - conns) / A.CONN_SIZE), off = p - conns - i * A.CONN_SIZE;
      return `${i === sa ? "sender's" : i === sc ? "receiver's" : `slot ${i}'s`} connection slot +${off}: ${fields('CONN_', off, /FREE_SLOT|ACTIVE|CLOSING|SIZE$/)}`;
    }
    if (p >= pool && p < poolEnd) return 'pool';
    for (let i = 0; i < nConns; i++) {
      const ci = conns + i * A.CONN_SIZE, pi = u32[(ci + A.CONN_POOL) >>> 2];
      if (pi !== 0 && p >= pi && p < pi + u32[(ci + A.CONN_POOL_SIZE) >>> 2]) return `${i === sa ? "the sender's" : `slot ${i}'s`} pool +${p - pi}`;
    }
    let r = `other (${p})`;
    for (const [k, v] of tables) if (p + 63 >= v) r = p >= v ? `table ${k} +${p - v}` : `table ${k}'s start`;
    return r;
  };
  for (let i = 0; i < 5000; i++) { a.send(c.id, p64); c.recv().free(); } // warm, and the pool in its steady state
  for (let i = 0; i < DEPTH; i++) a.send(c.id, p64);
  const TR = globalThis.__wasmbusLines;
  const snd = { R: new Map(), W: new Map() }, rcv = { R: new Map(), W: new Map() };
  for (let i = 0; i < N; i++) {
    TR.R = snd.R; TR.W = snd.W; TR.on = true; a.send(c.id, p64); TR.on = false;
    TR.R = rcv.R; TR.W = rcv.W; TR.on = true; c.recv().free(); TR.on = false;
  }
  for (let i = 0; i < DEPTH; i++) c.recv().free();
  const all = new Set([...snd.R.keys(), ...snd.W.keys(), ...rcv.R.keys(), ...rcv.W.keys()]);
  const per = (m, l) => ((m.get(l) ?? 0) / N).toFixed(2).padStart(5);
  let poolLines = 0, poolShared = 0, threadLines = 0, shared = 0;
  console.log(`A unicast 64 B message, the queue ${DEPTH} deep, ${N} messages traced (twin core): accesses per message`);
  console.log('        send: reads writes | receive + free: reads writes  line');
  for (const l of [...all].sort((x, y) => x - y)) {
    const lab = label(l);
    const sw = snd.W.has(l), rw = rcv.W.has(l), sh = (sw && (rw || rcv.R.has(l))) || (rw && snd.R.has(l));
    if (lab === 'thread') { threadLines++; continue; }
    if (lab === 'pool') { poolLines++; if (sh) poolShared++; continue; }
    if (sh) shared++;
    console.log(`${sh ? 'SHARED' : '      '}  ${per(snd.R, l)} ${per(snd.W, l)}  |  ${per(rcv.R, l)} ${per(rcv.W, l)}   ${lab}`);
  }
  console.log(`pool: ${poolLines} lines in all over the ${N} messages (blocks are reused), ${poolShared} of them written by one side and touched by the other`);
  console.log(`shared lines outside the pool: ${shared}; the calling thread's own slot: ${threadLines} lines (left out)`);
  a.close(); c.close(); bus.close();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
