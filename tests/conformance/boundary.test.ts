// The engine boundary: a slot or generation argument that is not a u32 (0.99, -1, 2^32, NaN,
// 1e300) is converted as the wasm boundary converts a JS number to an i32 (ToInt32: the
// integer part modulo 2^32; NaN and infinities 0), and the core reads that as a u32. So
// 0.99, 2^32, NaN and 1e300 all name slot 0, and -1 names slot 4294967295 (out of range:
// EBADF). Both engines must answer the same, concrete errno (this suite runs once per
// engine). Regression: the twin's recv, free and byebye never returned for slot 0.99 (it
// indexed memory with a fraction), where wasm answered EAGAIN / ENXIO / 0.
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { vec } from '../helpers/raw.ts';

const test = busSuite('engine boundary: non-integer and out-of-range slot arguments');

// the conversion itself, as the wasm boundary does it (ToInt32, then read as u32)
test('the argument values convert as ToInt32 does', () => {
  assert.equal([0.99, -1, 2 ** 32, NaN, 1e300].map((x) => x >>> 0), [0, 0xffffffff, 0, 0, 0]);
});

// slot argument -> the errno expected, with the only connection in slot 0 (queue empty)
const NAMES_SLOT_0 = [0.99, 2 ** 32, NaN, 1e300];
const OUT_OF_RANGE = [-1];

test('recv: 0.99, 2^32, NaN, 1e300 are slot 0 (EAGAIN: queue empty); -1 is out of range (EBADF)', ({ raw }) => {
  const h = open(raw);
  assert.is(h.slot, 0);
  for (const s of NAMES_SLOT_0) assert.is(raw.recv(s, h.gen).r, -A.EAGAIN, `recv slot ${s}`);
  for (const s of OUT_OF_RANGE) assert.is(raw.recv(s, h.gen).r, -A.EBADF, `recv slot ${s}`);
  // ... and a message sent to slot 0 is received through slot 0.99
  assert.is(raw.send(0, h.gen, { msg: { dst: h.id }, items: [vec(8, raw.cmd + 16384)] }), 0);
  const m = raw.recv(0.99, h.gen);
  assert.is(m.r, 0, 'recv slot 0.99 gets the message queued in slot 0');
  assert.is(raw.free(0.99, h.gen, m.offset), 0, 'free slot 0.99 frees its slice');
});

test('free: 0.99, 2^32, NaN, 1e300 are slot 0 (ENXIO: nothing published there); -1 is out of range (EBADF)', ({ raw }) => {
  const h = open(raw);
  for (const s of NAMES_SLOT_0) assert.is(raw.free(s, h.gen, 64), -A.ENXIO, `free slot ${s}`);
  for (const s of OUT_OF_RANGE) assert.is(raw.free(s, h.gen, 64), -A.EBADF, `free slot ${s}`);
});

test('send: 0.99, 2^32, NaN, 1e300 send from slot 0 (delivered: 0); -1 is out of range (EBADF)', ({ raw, e }) => {
  const h = open(raw);
  for (const s of NAMES_SLOT_0) {
    assert.is(raw.send(s, h.gen, { msg: { dst: h.id }, items: [vec(8, raw.cmd + 16384)] }), 0, `send slot ${s}`);
  }
  for (const s of OUT_OF_RANGE) {
    assert.is(raw.send(s, h.gen, { msg: { dst: h.id }, items: [vec(8, raw.cmd + 16384)] }), -A.EBADF, `send slot ${s}`);
  }
  assert.is(e.queued(0), NAMES_SLOT_0.length, 'one message per send that named slot 0');
  for (let i = 0; i < NAMES_SLOT_0.length; i++) assert.is(raw.recv(0, h.gen, A.RECV_DROP).r, 0);
});

test('byebye: 0.99, 2^32, NaN, 1e300 close slot 0 (0); -1 is out of range (EBADF)', ({ raw, e }) => {
  for (const s of NAMES_SLOT_0) {
    const h = open(raw);
    assert.is(h.slot, 0);
    for (const bad of OUT_OF_RANGE) assert.is(raw.byebye(bad, h.gen), -A.EBADF, `byebye slot ${bad}`);
    assert.is(raw.byebye(s, h.gen), 0, `byebye slot ${s}`);
    assert.is(e.liveConns(), 0, `byebye slot ${s} closed slot 0`);
  }
});

test('the generation argument converts the same way: gen + 2^32 and gen + 0.5 are gen, NaN is 0', ({ raw }) => {
  const h = open(raw);
  assert.is(h.gen, 1, 'the first HELLO in slot 0 makes generation 1');
  assert.is(raw.recv(0, h.gen + 2 ** 32).r, -A.EAGAIN);
  assert.is(raw.recv(0, h.gen + 0.5).r, -A.EAGAIN);
  assert.is(raw.recv(0, NaN).r, -A.ECONNRESET, 'generation 0 is not the connection\'s');
  assert.is(raw.free(0, h.gen - 2 ** 32, 64), -A.ENXIO);
  assert.is(raw.byebye(0, 1e300), -A.ECONNRESET, 'generation 0 is not the connection\'s');
});

test.run();
