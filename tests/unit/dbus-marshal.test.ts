// The D-Bus codec (js/dbus/marshal.ts, header.ts): messages libdbus accepts byte for byte,
// round trips of every supported type, in-place decoding, writing into a target buffer, and
// the validation rules with their errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  encodeMessage, messageSize, writeMessage, readMessage, readHeader, sizeOf, write, encode, read,
  withKdbusAddresses, checkKdbusEnvelope, PAYLOAD_DBUS, FLAG_NO_AUTO_START, FLAG_NO_REPLY_EXPECTED,
  BusErrorLike, uniqueName, uniqueNameId, objectPathError, interfaceNameError, memberNameError, errorNameError, busNameError,
  namespaceError, signatureError, parseSignature, type DBusHeader,
} from './dbus-helpers.ts';
import { encodeTransient, readPayload } from '../../js/dbus/header.ts';
import { signalFilter } from '../../js/dbus/bloom.ts';
import { matchesRule } from '../../js/dbus/match.ts';

// These messages, as this codec encodes them, were each accepted by libdbus 1.14
// (dbus_message_demarshal, which validates everything) and re-marshalled by it
// (dbus_message_marshal) into exactly the same bytes.
const LIBDBUS = [
    '6c04000168000000070000005b00000001016f00100000002f6f72672f6578616d706c652f4f626a0000000000000000' +
    '020173000f0000006f72672e6578616d706c652e466f6f0003017300070000004368616e67656400080167000d73617b' +
    '73767d617976286978290000000000000600000068c3a96c6c6f000028000000010000006b0001750000000005000000' +
    '01000000640001640000000000000000000000000000f83f0300000001020302617300000e0000000100000061000000' +
    '0100000062000000fdffffff000000000900000000000000',
    '6c01020100000000010000003800000001016f00010000002f00000000000000030173000400000050696e6700000000' +
    '060173000f0000006f72672e6578616d706c652e53766300',
    '6c02000148000000020000002a000000050175000100000007017300040000003a312e3500000000080167000c79626e' +
    '716975787464736f6700000000000000ff00000001000000fefffffff9ffffffffffffff000000000000000000000080' +
    'ffffffffffffffff000000000000d0bf0000000000000000040000002f612f620005617b73767d00',
    '6c03000109000000030000003700000004017300180000006f72672e6578616d706c652e4572726f722e4661696c6564' +
    '000000000000000005017500090000000801670001730000040000006e6f706500',
    '6c04000150000000040000004700000001016f00020000002f610000000000000201730003000000612e620000000000' +
    '03017300010000004d0000000000000008016700116161796128797629617b74617b73717d7d00000900000000000000' +
    '010000000900000005000000000000000101790002000000280000000000000001000000000000000800000000000000' +
    '010000007800030002000000000000000000000000000000',
    '6c04000108000000050000003800000001016f00020000002f610000000000000201730003000000612e620000000000' +
    '03017300010000004d0000000000000008016700026178000000000000000000',
];
const CASES: [DBusHeader, unknown[]][] = [
  [{ type: 'signal', serial: 7, path: '/org/example/Obj', interface: 'org.example.Foo', member: 'Changed', signature: 'sa{sv}ayv(ix)' },
    ['héllo', new Map<string, unknown>([['k', { signature: 'u', value: 5 }], ['d', { signature: 'd', value: 1.5 }]]), new Uint8Array([1, 2, 3]), { signature: 'as', value: ['a', 'b'] }, [-3, 9n]]],
  [{ type: 'method_call', serial: 1, path: '/', member: 'Ping', destination: 'org.example.Svc', flags: 2 }, []],
  [{ type: 'method_return', serial: 2, replySerial: 1, signature: 'ybnqiuxtdsog', sender: ':1.5' },
    [255, true, -2, 65535, -7, 4294967295, -(2n ** 63n), 2n ** 64n - 1n, -0.25, '', '/a/b', 'a{sv}']],
  [{ type: 'error', serial: 3, replySerial: 9, errorName: 'org.example.Error.Failed', signature: 's' }, ['nope']],
  [{ type: 'signal', serial: 4, path: '/a', interface: 'a.b', member: 'M', signature: 'aaya(yv)a{ta{sq}}' },
    [[new Uint8Array(0), new Uint8Array([9])], [[1, { signature: 'y', value: 2 }]], new Map([[1n, new Map([['x', 3]])], [2n, new Map()]])]],
  [{ type: 'signal', serial: 5, path: '/a', interface: 'a.b', member: 'M', signature: 'ax' }, [[]]],
];

const hex = (u: Uint8Array) => Array.from(u, (b) => b.toString(16).padStart(2, '0')).join('');
const unhex = (h: string) => Uint8Array.from(h.match(/../g)!, (b) => parseInt(b, 16));

test('refused: bytes after the message in a payload, header field code 0, a dict key twice', () => {
  const h: DBusHeader = { type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', signature: 'a{uu}' };
  const m = encodeMessage(h, [new Map([[1, 7], [2, 9]])]);
  assert.equal(readPayload(m).body, [new Map([[1, 7], [2, 9]])]);
  // a buffer may hold more than one message (readMessage reads the first); a payload may not
  const longer = new Uint8Array(m.length + 13).fill(0xee);
  longer.set(m);
  assert.is(readMessage(longer).size, m.length);
  BusErrorLike(() => readPayload(longer), 'EBADMSG', /the payload is \d+ bytes and its D-Bus message \d+: a DBusDBus payload is exactly one message/);
  // header field code 0 is INVALID: the first field (PATH, code 1) made code 0
  const zero = m.slice();
  assert.is(zero[16], 1);
  zero[16] = 0;
  BusErrorLike(() => readMessage(zero), 'EBADMSG', /header field code 0 is INVALID/);
  // the second entry's key 2 made 1: the dict has key 1 twice
  const dup = m.slice();
  let at = -1;
  for (let i = m.length - 8; i >= 0 && at < 0; i--) if (m[i] === 2 && m[i + 1] === 0 && m[i + 2] === 0 && m[i + 3] === 0 && m[i + 4] === 9) at = i;
  assert.ok(at > 0, 'the entry 2 -> 9 found');
  dup[at] = 1;
  BusErrorLike(() => readMessage(dup), 'EBADMSG', /\{1\}: the key appears twice in the dict/);
  // a bad variant signature is named with the value's path, as every other rule is
  const bytes = (xs: number[]) => new Uint8Array(xs);
  BusErrorLike(() => read('v', bytes([2, 0x69, 0x69, 0, 1, 0, 0, 0, 1, 0, 0, 0]), 0, 12), 'EBADMSG', /: arg0: a variant signature is exactly one complete type, got "ii"/);
  BusErrorLike(() => read('yv', bytes([1, 1, 0x7b, 0, 0]), 0, 5), 'EBADMSG', /: arg1: invalid variant signature "\{": a dict entry outside an array/);
});

test('payload type DBusDBus', () => {
  assert.is(PAYLOAD_DBUS, 0x4442757344427573n);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, PAYLOAD_DBUS, false);
  assert.is(new TextDecoder().decode(b), 'DBusDBus');
});

test('messages encode to the bytes libdbus accepts and reproduces; they decode back', () => {
  CASES.forEach(([h, body], i) => {
    const m = encodeMessage(h, body);
    assert.is(hex(m), LIBDBUS[i], `case ${i}`);
    assert.is(messageSize(h, body), m.length);
    const r = readMessage(m);
    assert.equal(r.header, { ...h, ...(h.flags === undefined ? {} : { flags: h.flags }) }, `case ${i} header`);
    assert.equal(r.body, body, `case ${i} body`);
    assert.is(r.size, m.length);
    assert.is(r.bodyOffset % 8, 0);
  });
});

test('the header kept from the last message: repeats and interleavings give the same bytes; serial and flags still checked', () => {
  // every case after every case (the kept header hit, then missed), twice
  for (let round = 0; round < 2; round++) {
    CASES.forEach(([h1, b1], i) => CASES.forEach(([h2, b2], j) => {
      assert.is(hex(encodeMessage(h1, b1)), LIBDBUS[i], `case ${i}`);
      assert.is(hex(encodeMessage(h2, b2)), LIBDBUS[j], `case ${j} after ${i}`);
    }));
  }
  CASES.forEach(([h, body], i) => {
    encodeMessage(h, body);
    // the same fields with another serial and flags: only bytes 2 and 8..11 differ
    const h2 = { ...h, serial: 0xfedcba98, flags: 6 };
    const m = encodeMessage(h2, body);
    const r = readMessage(m);
    assert.is(r.header.serial, 0xfedcba98, `case ${i} serial`);
    assert.is(r.header.flags ?? 0, 6, `case ${i} flags`);
    const want = unhex(LIBDBUS[i]);
    want[2] = 6; want[8] = 0x98; want[9] = 0xba; want[10] = 0xdc; want[11] = 0xfe;
    assert.is(hex(m), hex(want), `case ${i} bytes`);
    BusErrorLike(() => encodeMessage({ ...h, serial: 0 }, body), 'EINVAL', /serial must be an integer 1\.\.2\^32-1, got 0/);
    BusErrorLike(() => encodeMessage({ ...h, flags: 8 }, body), 'EINVAL', /flags must be a combination of FLAG_\* bits/);
  });
});

test('kept headers per type: calls, replies with changing reply serials, errors and signals interleaved give the bytes of a fresh encode', () => {
  // the reply serial is written per message: libdbus's bytes with those 4 bytes changed
  const replyAt = (i: number) => LIBDBUS[i].indexOf('05017500') / 2 + 4; // REPLY_SERIAL's value (cases 2 and 3)
  for (let round = 0; round < 3; round++) {
    CASES.forEach(([h1, b1], i) => CASES.forEach(([h2, b2], j) => {
      for (const [h, b, k] of [[h1, b1, i], [h2, b2, j]] as const) {
        const rs = h.replySerial === undefined ? undefined : 1 + ((round * 7919 + i * 31 + j) % 0xfffffff);
        const hh = rs === undefined ? h : { ...h, replySerial: rs };
        const want = unhex(LIBDBUS[k]);
        if (rs !== undefined) new DataView(want.buffer).setUint32(replyAt(k), rs, true);
        const m = encodeMessage(hh, b);
        assert.is(hex(m), hex(want), `case ${k} (after ${i}), reply serial ${rs}`);
        // the transient buffer: the same bytes, until the next encodeTransient
        assert.is(hex(encodeTransient(hh, b)), hex(want), `case ${k} transient`);
        assert.is(readMessage(m).header.replySerial, rs);
      }
    }));
  }
  // a reply serial still checked when the rest of the header is kept
  const [h] = CASES[3];
  encodeMessage(h, ['x']);
  BusErrorLike(() => encodeMessage({ ...h, replySerial: 0 }, ['x']), 'EINVAL', /replySerial must be an integer 1\.\.2\^32-1, got 0/);
  BusErrorLike(() => encodeMessage({ ...h, replySerial: undefined }, ['x']), 'EINVAL', /an error has a reply serial/);
  // a getter that encodes while a transient encode is under way gets bytes of its own
  const inner = CASES[3];
  const body = [['a', 'b']];
  let innerBytes = '';
  Object.defineProperty(body[0], 1, { get() { innerBytes = hex(encodeTransient(inner[0], inner[1])); return 'b'; }, enumerable: true });
  const outer = encodeTransient({ type: 'signal', serial: 9, path: '/a', interface: 'a.b', member: 'M', signature: 'as' }, body);
  assert.is(innerBytes, LIBDBUS[3]);
  assert.equal(readMessage(outer).body, [['a', 'b']]);
});

test('kept decode state: interleaved messages decode as fresh ones; decoded values are never shared between messages', () => {
  const bytes = CASES.map(([h, b]) => encodeMessage(h, b));
  const fresh = bytes.map((m) => readMessage(m));
  for (let round = 0; round < 2; round++) {
    bytes.forEach((m1, i) => bytes.forEach((m2, j) => {
      const a = readMessage(m1), b = readMessage(m2);
      assert.equal(a.header, fresh[i].header, `header ${i} (before ${j})`);
      assert.equal(b.header, fresh[j].header, `header ${j} (after ${i})`);
      assert.equal(a.body, fresh[i].body, `body ${i}`);
      assert.equal(b.body, fresh[j].body, `body ${j}`);
    }));
  }
  // each decode is its own: changing one leaves the next alone
  const m = bytes[0];
  const d1 = readMessage(m);
  d1.header.path = '/changed';
  (d1.body[1] as Map<string, unknown>).set('k', 'changed');
  ((d1.body[3] as { value: string[] }).value).push('c');
  (d1.body[4] as unknown[])[0] = 0;
  const d2 = readMessage(m);
  assert.is.not(d2.header, d1.header);
  assert.is.not(d2.body, d1.body);
  assert.equal(d2.header, fresh[0].header);
  assert.equal(d2.body, fresh[0].body);
  // copyArrays: ay values are copies, the rest as without it (strings read from shared memory too)
  const shared = new Uint8Array(new SharedArrayBuffer(m.length + 8));
  shared.set(m, 8);
  const d3 = readMessage(shared, 8, m.length, true);
  assert.is.not((d3.body[2] as Uint8Array).buffer, shared.buffer);
  assert.equal(d3.body, fresh[0].body);
  shared.fill(0);
  assert.equal([...(d3.body[2] as Uint8Array)], [1, 2, 3], 'the copy outlives the bytes');
  // a header field the fast reader leaves to the general one (an unknown field of type 'ay')
  // and a malformed one (a bad object path) decode and fail as they always did
  const ping = encodeMessage({ type: 'method_call', serial: 1, path: '/', member: 'Ping' });
  const unknownField = [0x0a, 2, 0x61, 0x79, 0, 0, 0, 0, 2, 0, 0, 0, 9, 9, 0, 0]; // code 10, 'ay', [9, 9], padding
  const withUnknown = new Uint8Array(ping.length + 16);
  withUnknown.set(ping.subarray(0, 16));
  withUnknown.set(unknownField, 16);
  withUnknown.set(ping.subarray(16), 32);
  withUnknown[12] += 16; // the field array length
  assert.equal(readMessage(withUnknown).header, { type: 'method_call', serial: 1, path: '/', member: 'Ping' });
  const bad = encodeMessage({ type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M' });
  bad[25] = 0x2f; // the path '/a' -> '//'
  BusErrorLike(() => readMessage(bad), 'EBADMSG', /header field 0 \(code 1\)\[1\]\.value: invalid object path "\/\/": an object path has no empty elements/);
  // the last unique name kept: ids in turn, the bus, bigints, a non-integer still refused
  assert.equal([5, 6, 5, 0, 5n, 0n, 6].map((id) => uniqueName(id)), [':1.5', ':1.6', ':1.5', 'org.freedesktop.DBus', ':1.5', 'org.freedesktop.DBus', ':1.6']);
  BusErrorLike(() => uniqueName(1.5), 'EINVAL', /^uniqueName: EINVAL: a connection id must be an integer 0\.\.2\^64-1/);
});

test('error paths are built only on failure, with the same text: nested containers, dict keys and values, variants', () => {
  BusErrorLike(() => encode('aa{sa(iv)}', [[new Map([['q', [[1, { signature: 's', value: 'a\u0000b' }]]]])]]), 'EINVAL',
    /^dbus\.encode: EINVAL: arg0\[0\]\{q\}\[0\]\[1\]\.value contains a NUL character$/);
  BusErrorLike(() => sizeOf('sa{is}', ['x', new Map<unknown, string>([[1, 'ok'], ['x', 'y']])]), 'EINVAL',
    /^dbus\.encode: EINVAL: arg1\{key\}: type 'i' takes an integer -2147483648\.\.2147483647, got string$/);
  BusErrorLike(() => encode('(i(s(o)))', [[1, ['a', ['bad']]]]), 'EINVAL', /^dbus\.encode: EINVAL: arg0\[1\]\[1\]\[0\]: invalid object path "bad"/);
  BusErrorLike(() => encode('v', [{ signature: 'ay', value: [1, 300] }]), 'EINVAL', /^dbus\.encode: EINVAL: arg0\.value\[1\]: type 'y' takes an integer 0\.\.255, got 300$/);
  BusErrorLike(() => encode('ah', [[1]]), 'EOPNOTSUPP', /^dbus\.encode: EOPNOTSUPP: arg0\[0\]: type 'h'/);
  BusErrorLike(() => encode('av', [[{ signature: 'h', value: 1 }]]), 'EOPNOTSUPP', /^dbus\.encode: EOPNOTSUPP: arg0\[0\]\.value: type 'h'/);
  // decoding: a bad boolean inside an array of structs inside a dict value
  const good = encode('a{s(ab)}', [new Map([['k', [[true, false]]]])]);
  const badBool = good.slice();
  badBool[badBool.length - 4] = 2;
  BusErrorLike(() => read('a{s(ab)}', badBool), 'EBADMSG', /^dbus\.decode: EBADMSG: arg0\{k\}\[0\]\[1\]: a boolean is 0 or 1, got 2$/);
  // the target buffer too small is not a value's error: no path added
  BusErrorLike(() => write('a(ii)', [[[1, 2], [3, 4]]], new Uint8Array(12)), 'EMSGSIZE', /the target buffer is too small/);
  // a getter's own error passes through unchanged
  const arr = [1, 2];
  Object.defineProperty(arr, 1, { get() { throw new RangeError('mine'); }, enumerable: true });
  assert.throws(() => encode('ai', [arr]), (e: Error) => e instanceof RangeError && e.message === 'mine');
});

test('ay decodes in place: a subarray view of the input, no copy', () => {
  const m = encodeMessage(CASES[0][0], CASES[0][1]);
  const r = readMessage(m);
  const ay = r.body[2] as Uint8Array;
  assert.is(ay.buffer, m.buffer);
  m[ay.byteOffset] = 42;
  assert.is(ay[0], 42, 'the view sees the input');
  // from shared memory too (strings are decoded from a private copy where TextDecoder needs one)
  const shared = new Uint8Array(new SharedArrayBuffer(m.length + 16));
  shared.set(m, 8);
  const rs = readMessage(shared, 8, m.length);
  assert.is((rs.body[2] as Uint8Array).buffer, shared.buffer);
  assert.is(rs.body[0], 'héllo');
});

test('sizeOf + write marshal into a caller-supplied buffer at an offset, padding zeroed', () => {
  const sig = 'ya{sv}(td)as';
  const values = [7, { x: { signature: 's', value: 'long string with ünïcödé' } }, [1n, 2.5], ['a', 'bb']];
  const n = sizeOf(sig, values);
  const mem = new Uint8Array(new SharedArrayBuffer(256)).fill(0xee);
  const end = write(sig, values, mem, 64, 64);
  assert.is(end - 64, n);
  assert.is(mem[63], 0xee);
  assert.is(mem[end], 0xee);
  assert.is(hex(mem.subarray(64, end)), hex(encode(sig, values)));
  const back = read(sig, mem, 64, end, { base: 64 });
  assert.equal(back[1], new Map([['x', { signature: 's', value: 'long string with ünïcödé' }]]));
  // a whole message into shared memory, at an 8-aligned offset
  const [h, body] = CASES[2];
  const size = messageSize(h, body);
  const e2 = writeMessage(h, body, mem, 8);
  assert.is(e2 - 8, size);
  assert.equal(readMessage(mem, 8, size).body, body);
  // too small
  BusErrorLike(() => write(sig, values, new Uint8Array(n - 1)), 'EMSGSIZE', /too small/);
  BusErrorLike(() => writeMessage(h, body, new Uint8Array(size - 1)), 'EMSGSIZE', /too small/);
  // alignment depends on where the body starts
  assert.is(sizeOf('yt', [1, 2n], 0), 16);
  assert.is(sizeOf('yt', [1, 2n], 4), 12);
});

test('encoding errors: EINVAL naming the argument and the rule; h is EOPNOTSUPP', () => {
  BusErrorLike(() => encode('y', [256]), 'EINVAL', /arg0: type 'y' takes an integer 0\.\.255, got 256/);
  BusErrorLike(() => encode('i', [1.5]), 'EINVAL', /arg0: type 'i'/);
  BusErrorLike(() => encode('u', [-1]), 'EINVAL', /type 'u'/);
  BusErrorLike(() => encode('x', [2n ** 63n]), 'EINVAL', /outside the range of type 'x'/);
  BusErrorLike(() => encode('t', [-1n]), 'EINVAL', /outside the range of type 't'/);
  BusErrorLike(() => encode('t', [2 ** 60]), 'EINVAL', /bigint \(or a safe integer\)/);
  BusErrorLike(() => encode('b', [1]), 'EINVAL', /type 'b' takes a boolean/);
  BusErrorLike(() => encode('s', ['a\0b']), 'EINVAL', /NUL/);
  BusErrorLike(() => encode('s', ['\ud800']), 'EINVAL', /lone surrogate/);
  BusErrorLike(() => encode('o', ['/a/']), 'EINVAL', /invalid object path "\/a\/"/);
  BusErrorLike(() => encode('o', ['a']), 'EINVAL', /invalid object path/);
  BusErrorLike(() => encode('o', ['/a//b']), 'EINVAL', /empty elements/);
  BusErrorLike(() => encode('o', ['/a-b']), 'EINVAL', /only \[A-Za-z0-9_\]/);
  BusErrorLike(() => encode('g', ['a{vs}']), 'EINVAL', /invalid signature.*basic type/);
  BusErrorLike(() => encode('h', [0]), 'EOPNOTSUPP', /unix fd/);
  BusErrorLike(() => encode('(ii)', [[1]]), 'EINVAL', /arg0: type '\(ii\)' takes an array of 2 fields, got 1 fields/);
  BusErrorLike(() => encode('as', ['x']), 'EINVAL', /takes an array/);
  BusErrorLike(() => encode('a{is}', [{ 1: 'x' }]), 'EINVAL', /takes a Map, got object/);
  BusErrorLike(() => encode('v', ['x']), 'EINVAL', /\{ signature, value \}/);
  BusErrorLike(() => encode('v', [{ signature: 'ss', value: 1 }]), 'EINVAL', /exactly one complete type/);
  BusErrorLike(() => encode('ss', ['x']), 'EINVAL', /has 2 values, got 1$/);
  BusErrorLike(() => encode('', [2, 3]), 'EINVAL', /has 0 values, got 2 \(values need their D-Bus signature: pass it, e.g. signature: 'ii'/);
  BusErrorLike(() => encode('ay', [[1, 300]]), 'EINVAL', /arg0\[1\]: type 'y'/);
  // nesting: 65 variants
  let v: unknown = 1;
  for (let i = 0; i < 64; i++) v = { signature: i === 0 ? 'i' : 'v', value: v };
  encode('v', [v]);
  BusErrorLike(() => encode('v', [{ signature: 'v', value: v }]), 'EINVAL', /nesting depth over 64/);
  // (its path cut in the middle: the rule within a log line's first 200 characters; it ran to
  // some 400 before it, stop 62: an outside audit)
  try { encode('v', [{ signature: 'v', value: v }]); } catch (e) {
    const msg = (e as Error).message;
    assert.ok(msg.indexOf('nesting depth over 64') < 200, msg);
    assert.match(msg, /^dbus\.encode: EINVAL: arg0(\.value)+…(\.value)+: nesting depth over 64/, msg);
  }
  // a 64 MiB array (encoded size only)
  BusErrorLike(() => sizeOf('ay', [new Uint8Array(64 * 1024 * 1024 + 1)]), 'EINVAL', /over the 64 MiB limit/);
  sizeOf('ay', [new Uint8Array(64 * 1024 * 1024)]);
});

test('signatures: length, codes, nesting, dict entries, structs', () => {
  BusErrorLike(() => encode('s'.repeat(256), []), 'EINVAL', /signature too long/);
  BusErrorLike(() => encode('z', [1]), 'EINVAL', /unknown type code "z"/);
  BusErrorLike(() => encode('a', [[]]), 'EINVAL', /array without an element type/);
  BusErrorLike(() => encode('()', [[]]), 'EINVAL', /empty struct/);
  BusErrorLike(() => encode('(i', [[1]]), 'EINVAL', /unterminated struct/);
  BusErrorLike(() => encode('i)', [1]), 'EINVAL', /"\)" without "\("/);
  BusErrorLike(() => encode('{is}', [1]), 'EINVAL', /dict entry outside an array/);
  BusErrorLike(() => encode('a{(i)s}', [new Map()]), 'EINVAL', /key must be a basic type/);
  BusErrorLike(() => encode('a{iss}', [new Map()]), 'EINVAL', /key and one value/);
  BusErrorLike(() => encode('a{i}', [new Map()]), 'EINVAL', /key and one value/);
  encode('a'.repeat(32) + 'i', [[]]);
  BusErrorLike(() => encode('a'.repeat(33) + 'i', [[]]), 'EINVAL', /more than 32 nested arrays/);
  let nested: unknown = 1;
  for (let i = 0; i < 32; i++) nested = [nested];
  assert.equal(read('('.repeat(32) + 'i' + ')'.repeat(32), encode('('.repeat(32) + 'i' + ')'.repeat(32), [nested])), [nested]);
  BusErrorLike(() => encode('('.repeat(33) + 'i' + ')'.repeat(33), [[]]), 'EINVAL', /more than 32 nested structs/);
});

test('every encode pass refuses what sizeOf refuses: a dict key as a number and as a bigint, a dict entry past depth 64 (write, writeMessage and the one-pass encodes put them on the wire before stop 66)', () => {
  // (an outside reading against libdbus: the checks were in the sizing pass only, and dbus.write,
  // writeMessage and encodeTransient (emit, signal, sendMethod, dispatch's replies) write without it)
  const dup = new Map<unknown, number>([[1, 5], [1n, 6]]);
  const h: DBusHeader = { type: 'signal', serial: 1, path: '/o', interface: 'a.b', member: 'M', signature: 'a{tu}' };
  const buf = new Uint8Array(256);
  BusErrorLike(() => sizeOf('a{tu}', [dup]), 'EINVAL', /the key 1 appears twice/);
  BusErrorLike(() => write('a{tu}', [dup], buf, 0), 'EINVAL', /the key 1 appears twice/);
  BusErrorLike(() => writeMessage(h, [dup], buf, 0), 'EINVAL', /the key 1 appears twice/);
  BusErrorLike(() => encodeTransient(h, [dup]), 'EINVAL', /the key 1 appears twice/);
  // 63 variants around an a{yy} of one entry: 65 containers (libdbus: "hugely recursive")
  let x: unknown = { signature: 'a{yy}', value: new Map([[1, 2]]) };
  for (let i = 1; i < 63; i++) x = { signature: 'v', value: x };
  const hv: DBusHeader = { type: 'signal', serial: 1, path: '/o', interface: 'a.b', member: 'M', signature: 'v' };
  BusErrorLike(() => sizeOf('v', [x]), 'EINVAL', /nesting depth over 64/);
  BusErrorLike(() => write('v', [x], new Uint8Array(4096), 0), 'EINVAL', /nesting depth over 64/);
  BusErrorLike(() => encodeTransient(hv, [x]), 'EINVAL', /nesting depth over 64/);
  // bytes of 65 levels, made by hand (an array around a variant of 64): the decoder refuses them
  const wrap = (levels: number) => {
    let v: unknown = { signature: 'a{yy}', value: new Map([[1, 2]]) }; // a variant, its array, its entry: 3
    for (let i = 3; i < levels - 1; i++) v = { signature: 'v', value: v };
    const inner = encode('v', [v]); // levels - 1 containers
    const out = new Uint8Array(4 + inner.length);
    new DataView(out.buffer).setUint32(0, inner.length, true);
    out.set(inner, 4);
    return out; // 'av' of one element, read with base 4: the variant aligned as it was encoded
  };
  assert.equal(read('av', wrap(64), 0, undefined, { base: 4 }).length, 1, '64 levels: taken');
  BusErrorLike(() => read('av', wrap(65), 0, undefined, { base: 4 }), 'EBADMSG', /nesting depth over 64/);
  // an empty dict at that depth has no entry: taken, as an empty a(yy) is
  let empty: unknown = { signature: 'a{yy}', value: new Map() };
  for (let i = 1; i < 63; i++) empty = { signature: 'v', value: empty };
  assert.equal(read('v', encode('v', [empty])).length, 1);
});

test('signatures: a dict entry does not count as a struct (the specification\'s 32 open parentheses; it did before stop 66, refusing signatures libdbus takes)', () => {
  const take = ['('.repeat(32) + 'a{sy}' + ')'.repeat(32), 'a{s' + '('.repeat(32) + 'y' + ')'.repeat(32) + '}', 'a{s'.repeat(16) + '('.repeat(17) + 'y' + ')'.repeat(17) + '}'.repeat(16)];
  for (const sig of take) assert.is(signatureError(sig), null, sig.slice(0, 40));
  // each dict entry sits in an array: 33 of them are 33 arrays
  assert.match(signatureError('a{s'.repeat(33) + 'y' + '}'.repeat(33))!, /more than 32 nested arrays/);
  assert.match(signatureError('('.repeat(33) + 'y' + ')'.repeat(33))!, /more than 32 nested structs/);
});

test('readAt checks its range and options as read() does (EINVAL; a RangeError, an array past the bytes, string arithmetic before stop 66)', async () => {
  const { readAt, parseSingle } = await import('../../js/dbus/index.ts');
  const u = parseSingle('u'), ay = parseSingle('ay');
  const b = Uint8Array.from([1, 0, 0, 0, 2, 0, 0, 0]);
  BusErrorLike(() => readAt(u, new Uint8Array(8), 8, 100), 'EINVAL', /end must be an integer from 0 to 8, got 100/);
  BusErrorLike(() => readAt(u, b, -4, 8), 'EINVAL', /pos must be an integer from 0 to 8, got -4/);
  BusErrorLike(() => readAt(ay, Uint8Array.from([50, 0, 0, 0, 1, 2]), 0, 100), 'EINVAL', /end must be/);
  BusErrorLike(() => readAt(ay, Uint8Array.from([50, 0, 0, 0, 1, 2]), 0, 6), 'EBADMSG', /array length 50 runs past the end/);
  BusErrorLike(() => readAt(u, b, '0' as never, 8), 'EINVAL', /pos must be an integer/);
  BusErrorLike(() => readAt(u, b, 0, 8, { littleEndian: 'no' as never }), 'EINVAL', /littleEndian must be a boolean/);
  BusErrorLike(() => readAt(u, b, 0, 8, { bogus: 1 } as never), 'EINVAL', /unknown option "bogus"/);
  assert.equal(readAt(u, b, 4, 8), { value: 2, end: 8 });
  assert.equal(readAt(u, Uint8Array.from([0, 0, 0, 3]), 0, 4, { littleEndian: false }), { value: 3, end: 4 });
});

test('decoding errors: EBADMSG naming the rule', () => {
  const s = encode('s', ['abc']);
  const t = s.slice(); t[7] = 1;
  BusErrorLike(() => read('s', t), 'EBADMSG', /string not NUL-terminated/);
  const u = s.slice(); u[5] = 0;
  BusErrorLike(() => read('s', u), 'EBADMSG', /string contains a NUL byte/);
  const bad = encode('s', ['ab']); bad[4] = 0xc3; bad[5] = 0x28;
  BusErrorLike(() => read('s', bad), 'EBADMSG', /not valid UTF-8/);
  const over = bad.slice(); over[4] = 0xed; over[5] = 0xa0; // a surrogate encoded in UTF-8
  BusErrorLike(() => read('s', over), 'EBADMSG', /not valid UTF-8/);
  const padded = encode('yu', [1, 2]); padded[2] = 1;
  BusErrorLike(() => read('yu', padded), 'EBADMSG', /alignment padding not zero/);
  const bool = encode('b', [true]); bool[0] = 2;
  BusErrorLike(() => read('b', bool), 'EBADMSG', /boolean is 0 or 1/);
  const arr = encode('ay', [new Uint8Array(2)]);
  new DataView(arr.buffer).setUint32(0, 64 * 1024 * 1024 + 1, true);
  BusErrorLike(() => read('ay', arr), 'EBADMSG', /over the 64 MiB limit/);
  new DataView(arr.buffer).setUint32(0, 100, true);
  BusErrorLike(() => read('ay', arr), 'EBADMSG', /runs past the end/);
  BusErrorLike(() => read('o', encode('s', ['x/'])), 'EBADMSG', /invalid object path/);
  BusErrorLike(() => read('g', Uint8Array.of(1, 0x7a, 0)), 'EBADMSG', /invalid signature/);
  BusErrorLike(() => read('y', Uint8Array.of(1, 2)), 'EBADMSG', /1 bytes after the last value/);
  BusErrorLike(() => read('i', Uint8Array.of(1, 2)), 'EBADMSG', /runs past the end/);
  BusErrorLike(() => read('h', Uint8Array.of(0, 0, 0, 0)), 'EOPNOTSUPP', /unix fd/);
  BusErrorLike(() => read('x(', new Uint8Array(8)), 'EBADMSG', /invalid signature/);
  // 65 nested variants
  const deep: number[] = [];
  for (let i = 0; i < 65; i++) deep.push(1, 0x76, 0);
  deep.push(1, 0x79, 0, 7);
  BusErrorLike(() => read('v', Uint8Array.from(deep)), 'EBADMSG', /nesting depth over 64/);
  // big-endian input
  assert.equal(read('uq', Uint8Array.of(0, 0, 1, 2, 0, 3), 0, 6, { littleEndian: false }), [258, 3]);
});

test('headers: required fields, names, serials, flags, fds; malformed headers', () => {
  BusErrorLike(() => encodeMessage({ type: 'signal', serial: 1, path: '/a', member: 'M' }), 'EINVAL', /a signal has an interface/);
  BusErrorLike(() => encodeMessage({ type: 'method_call', serial: 1, path: '/a' }), 'EINVAL', /has a member/);
  BusErrorLike(() => encodeMessage({ type: 'error', serial: 1, replySerial: 1 }), 'EINVAL', /has an error name/);
  BusErrorLike(() => encodeMessage({ type: 'method_return', serial: 1 }), 'EINVAL', /has a reply serial/);
  BusErrorLike(() => encodeMessage({ type: 'method_return', serial: 0, replySerial: 1 }), 'EINVAL', /serial must be an integer 1\.\.2\^32-1/);
  BusErrorLike(() => encodeMessage({ type: 'signal', serial: 1, path: '/a', interface: 'nodot', member: 'M' }), 'EINVAL', /invalid interface "nodot": .*at least 2 elements/);
  BusErrorLike(() => encodeMessage({ type: 'signal', serial: 1, path: '/a', interface: 'a.1b', member: 'M' }), 'EINVAL', /starting with a digit/);
  BusErrorLike(() => encodeMessage({ type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M.x' }), 'EINVAL', /invalid member/);
  BusErrorLike(() => encodeMessage({ type: 'method_call', serial: 1, path: '/a', member: 'M', destination: 'x' }), 'EINVAL', /invalid destination/);
  BusErrorLike(() => encodeMessage({ type: 'method_call', serial: 1, path: '/a', member: 'M', flags: 8 }), 'EINVAL', /flags/);
  BusErrorLike(() => encodeMessage({ type: 'bogus' as 'signal', serial: 1 }), 'EINVAL', /type must be one of/);
  const good = encodeMessage({ type: 'method_call', serial: 5, path: '/a', member: 'M', signature: 'u' }, [1]);
  assert.is(readHeader(good).header.member, 'M');
  const m1 = good.slice(); m1[3] = 2;
  BusErrorLike(() => readHeader(m1), 'EBADMSG', /protocol version must be 1/);
  const m2 = good.slice(); m2[0] = 0x41;
  BusErrorLike(() => readHeader(m2), 'EBADMSG', /byte order/);
  const m3 = good.slice(); m3[1] = 9;
  BusErrorLike(() => readHeader(m3), 'EBADMSG', /unknown message type 9/);
  const m4 = good.slice(); m4.fill(0, 8, 12);
  BusErrorLike(() => readHeader(m4), 'EBADMSG', /serial must not be 0/);
  BusErrorLike(() => readMessage(good.subarray(0, good.length - 1)), 'EBADMSG', /body length 4 runs past the end/);
  BusErrorLike(() => readHeader(good.subarray(0, 10)), 'EBADMSG', /at least 16 bytes/);
  // a header field with the wrong type: the PATH field ('o') relabelled MEMBER (3, 's')
  const m5 = good.slice();
  const at = hex(m5).indexOf('01016f00') / 2;
  m5[at] = 3;
  BusErrorLike(() => readHeader(m5), 'EBADMSG', /header field 3 \(member\) must have type 's', got 'o'/);
  // duplicate field, unknown field skipped, UNIX_FDS
  const dup = encodeMessage({ type: 'method_call', serial: 5, path: '/a', member: 'M', interface: 'a.b' });
  const di = hex(dup).indexOf('02017300') / 2; dup[di] = 3; // INTERFACE -> a second MEMBER
  BusErrorLike(() => readHeader(dup), 'EBADMSG', /header field 3 \(member\) appears twice/);
  const unk = encodeMessage({ type: 'method_call', serial: 5, path: '/a', member: 'M', interface: 'a.b' });
  unk[di] = 200; // unknown field code: ignored (spec)
  assert.is(readHeader(unk).header.interface, undefined);
  const fds = encodeMessage({ type: 'method_return', serial: 5, replySerial: 7 });
  const fi = hex(fds).indexOf('05017500') / 2; fds[fi] = 9; // REPLY_SERIAL -> UNIX_FDS = 7
  BusErrorLike(() => readHeader(fds), 'EOPNOTSUPP', /unix fds/);
  // no SIGNATURE but a body
  const nosig = encodeMessage({ type: 'method_call', serial: 5, path: '/a', member: 'M', signature: 'y' }, [1]);
  const si = hex(nosig).indexOf('08016700') / 2; nosig[si] = 201;
  BusErrorLike(() => readHeader(nosig), 'EBADMSG', /body without a SIGNATURE/);
});

test('sender and destination come from the kdbus message; sd-bus consistency checks', () => {
  const h: DBusHeader = { type: 'signal', serial: 9, path: '/a', interface: 'a.b', member: 'M', sender: ':1.99' };
  assert.equal(withKdbusAddresses(h, { src: 3, dst: 2n ** 64n - 1n }), { ...h, sender: ':1.3' });
  assert.is(withKdbusAddresses(h, { src: 0, dst: 5 }).sender, 'org.freedesktop.DBus');
  assert.is(withKdbusAddresses(h, { src: 3, dst: 5 }).destination, ':1.5');
  assert.is(withKdbusAddresses(h, { src: 3, dst: 0, dstName: 'org.ex.Svc' }).destination, 'org.ex.Svc');
  assert.is(withKdbusAddresses(h, { src: 3, dst: 0 }, ':1.7').destination, ':1.7');
  // each envelope field read once: a getter's second answer is never used (stop 56, a second
  // look: "a.b" then "!not a name" became the destination; 2 then "x" a SyntaxError)
  const twice = <T,>(first: T, then: T) => { let n = 0; return () => (n++ === 0 ? first : then); };
  const dn = twice('a.b', '!not a name'), dd = twice<unknown>(2, 'x'), ds = twice(1, -1);
  assert.is(withKdbusAddresses(h, { src: 3, dst: 0, get dstName() { return dn(); } } as never).destination, 'a.b');
  assert.is(withKdbusAddresses(h, { src: 3, get dst() { return dd(); } } as never).destination, ':1.2');
  assert.is(withKdbusAddresses(h, { get src() { return ds(); }, dst: 5 } as never).sender, ':1.1');
  const hm = twice('M', 'not a member!');
  assert.is(withKdbusAddresses({ type: 'signal', serial: 9, path: '/a', interface: 'a.b', get member() { return hm(); } } as never, { src: 3, dst: 5 }).member, 'M');
  checkKdbusEnvelope(h, { src: 3, dst: 2n ** 64n - 1n, cookie: 9, flags: 4 });
  // numbers checked before BigInt() meets them, each field read once (stop 56: a SyntaxError,
  // a RangeError and a TypeError came out of it; a cookie read twice could say two values)
  BusErrorLike(() => checkKdbusEnvelope({ ...h, serial: 'x' as never }, { src: 3, dst: 1, cookie: 9, flags: 4 }), 'EINVAL', /^checkKdbusEnvelope: EINVAL: header.serial must be an integer/);
  for (const c of ['x', 1.5, Symbol('c')]) BusErrorLike(() => checkKdbusEnvelope(h, { src: 3, dst: 1, cookie: c as never, flags: 4 }), 'EINVAL', /env.cookie must be an integer/);
  BusErrorLike(() => checkKdbusEnvelope(h, { src: 3, dst: 1, cookie: 9, flags: 'x' as never }), 'EINVAL', /env.flags must be an integer/);
  const ck = twice<unknown>(9, 8);
  checkKdbusEnvelope(h, { src: 3, dst: 1, get cookie() { return ck(); }, flags: 4 } as never);
  // a header's fields read once by the helpers that check them (signalFilter, matchesRule)
  const sg = twice<unknown>('s', 'u');
  assert.equal([...signalFilter({ type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', get signature() { return sg(); } } as never, ['x'])],
    [...signalFilter({ type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', signature: 's' }, ['x'])]);
  const ifc = twice<unknown>('a.b', 5);
  assert.is(matchesRule("interface='a.b'", { type: 'signal', serial: 1, path: '/a', get interface() { return ifc(); }, member: 'M' } as never, []), true);
  const esg = twice<unknown>('s', 'g');
  const em = encodeMessage({ type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', get signature() { return esg(); } } as never, ['x']);
  assert.equal(readMessage(em).body, ['x'], 'one signature for the header and the body');
  BusErrorLike(() => checkKdbusEnvelope(h, { src: 3, dst: 1, cookie: 8, flags: 4 }), 'EBADMSG', /not the kdbus cookie/);
  BusErrorLike(() => checkKdbusEnvelope(h, { src: 3, dst: 1, cookie: 9, flags: 0 }), 'EBADMSG', /SIGNAL flag/);
  const call: DBusHeader = { type: 'method_call', serial: 4, path: '/', member: 'P', flags: FLAG_NO_AUTO_START };
  checkKdbusEnvelope(call, { src: 1, dst: 2, cookie: 4, flags: 1 | 2 });
  BusErrorLike(() => checkKdbusEnvelope(call, { src: 1, dst: 2, cookie: 4, flags: 1 }), 'EBADMSG', /NO_AUTO_START/);
  BusErrorLike(() => checkKdbusEnvelope({ ...call, flags: FLAG_NO_REPLY_EXPECTED | FLAG_NO_AUTO_START }, { src: 1, dst: 2, flags: 1 | 2 }), 'EBADMSG', /EXPECT_REPLY/);
  BusErrorLike(() => checkKdbusEnvelope({ type: 'method_return', serial: 5, replySerial: 4 }, { src: 1, dst: 2, cookieReply: 3 }), 'EBADMSG', /cookie_reply/);
});

test('JSON travels as a string, raw bytes as ay', () => {
  const obj = { a: [1, 2], b: 'ü' };
  const m = encodeMessage({ type: 'method_call', serial: 1, path: '/', member: 'Put', signature: 'say' }, [JSON.stringify(obj), unhex('00ff10')]);
  const r = readMessage(m);
  assert.equal(JSON.parse(r.body[0] as string), obj);
  assert.is(hex(r.body[1] as Uint8Array), '00ff10');
});

test('a leading U+FEFF is part of the string (D-Bus keeps it; a TextDecoder drops it by default)', () => {
  // (outside audit, stop 16: every decoded string lost its leading U+FEFF)
  for (const v of ['\uFEFFhello', '\uFEFF', 'a\uFEFFb']) {
    assert.equal(read('s', encode('s', [v])), [v], JSON.stringify(v));
  }
  const m = new Map([['\uFEFFk', 1], ['k', 2]]);
  assert.equal(read('a{si}', encode('a{si}', [m])), [m], 'two keys, not one twice');
});

test('encode refuses what the decoder refuses: a dict key given as a number and as a bigint; a dict that is not a Map or a plain object', () => {
  // (outside audit, stop 16: 1 and 1n were written as two entries of one key, which every
  // receiver refused; a Set, a Date, a URLSearchParams went out as an empty dict)
  for (const sig of ['a{xs}', 'a{ts}']) {
    const err = (() => { try { encode(sig, [new Map<unknown, string>([[1, 'a'], [1n, 'b']])]); } catch (e) { return e as Error; } return null; })();
    assert.ok(err && (err as unknown as { code: string }).code === 'EINVAL', sig);
    assert.match(err!.message, /the key 1 appears twice in the dict \(as a number and as a bigint/);
    assert.equal(read(sig, encode(sig, [new Map<unknown, string>([[1, 'a'], [2n, 'b']])])), [new Map([[1n, 'a'], [2n, 'b']])], `${sig}: distinct keys still go`);
  }
  for (const v of [new Set(['a']), new Date(0), new URLSearchParams('user=alice'), /x/]) {
    const err = (() => { try { encode('a{sv}', [v]); } catch (e) { return e as Error; } return null; })();
    assert.ok(err && (err as unknown as { code: string }).code === 'EINVAL', String(v));
    assert.match(err!.message, /takes a Map or a plain object, got an object of class/);
  }
  assert.equal(read('a{si}', encode('a{si}', [Object.assign(Object.create(null), { a: 1 })])), [new Map([['a', 1]])], 'an object without a prototype is plain');
});

test('encodeMessage / messageSize / writeMessage refuse a header key they do not know (it would be left out silently)', () => {
  // (outside audit, stop 16)
  for (const [k, v, re] of [['foo', 1, /unknown header key "foo"/], ['unixFds', 1, /unknown header key "unixFds" .*no unix fd crosses this bus/], ['replyserial', 3, /unknown header key "replyserial"/]] as const) {
    const h = { type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'C', [k]: v } as unknown as DBusHeader;
    for (const f of [() => encodeMessage(h), () => messageSize(h), () => writeMessage(h, [], new Uint8Array(256))]) {
      const err = (() => { try { f(); } catch (e) { return e as Error; } return null; })();
      assert.ok(err && (err as unknown as { code: string }).code === 'EINVAL', k);
      assert.match(err!.message, re);
    }
  }
  assert.ok(encodeMessage({ type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'C' }).length > 0);
});

test('the codec checks its own arguments: the signature a string, the bytes a Uint8Array, read()\'s range and options (EINVAL; an outside audit, stop 25)', () => {
  // (a number read as an empty signature, a plain array threw a TypeError, a Uint16Array was measured in elements)
  BusErrorLike(() => encode(5 as never, []), 'EINVAL', /^dbus\.encode: EINVAL: the signature must be a string, got number$/);
  BusErrorLike(() => encode(undefined as never, []), 'EINVAL', /the signature must be a string, got undefined/);
  BusErrorLike(() => sizeOf({} as never, []), 'EINVAL', /the signature must be a string, got object/);
  BusErrorLike(() => read(5 as never, new Uint8Array(0)), 'EINVAL', /^dbus\.decode: EINVAL: the signature must be a string, got number$/);
  BusErrorLike(() => write('i', [1], [0, 0, 0, 0] as never), 'EINVAL', /^dbus\.encode: EINVAL: into must be a Uint8Array, got array$/);
  BusErrorLike(() => write('i', [1], new Uint16Array(4) as never), 'EINVAL', /into must be a Uint8Array, got an object of class Uint16Array/);
  BusErrorLike(() => read('i', [1, 0, 0, 0] as never, 0, 4), 'EINVAL', /^dbus\.decode: EINVAL: bytes must be a Uint8Array, got array$/);
  const four = new Uint8Array([1, 0, 0, 0]);
  BusErrorLike(() => read('i', four, 0, 5), 'EINVAL', /end must be an integer from 0 to 4, got 5/);
  BusErrorLike(() => read('i', four, 5), 'EINVAL', /offset must be an integer from 0 to 4, got 5/);
  BusErrorLike(() => read('i', four, 0.5), 'EINVAL', /offset must be an integer/);
  BusErrorLike(() => read('i', four, 0, 4, { bse: 1 } as never), 'EINVAL', /unknown option "bse" \(known: base, littleEndian, copyArrays\)/);
  BusErrorLike(() => read('i', four, 0, 4, 'x' as never), 'EINVAL', /options must be an object/);
  BusErrorLike(() => read('i', four, 0, 4, { littleEndian: 1 } as never), 'EINVAL', /littleEndian must be a boolean, got number/);
  BusErrorLike(() => read('i', four, 0, 4, { base: '0' } as never), 'EINVAL', /base must be an integer, got string/);
  assert.equal(read('i', four), [1]);
  assert.equal(read('i', four, 0, 4, { littleEndian: true, base: 0, copyArrays: false }), [1]);
  const NodeBuffer = (globalThis as { Buffer?: { alloc(n: number): Uint8Array } }).Buffer;
  if (NodeBuffer) { // (a Node Buffer is a Uint8Array: taken)
    const b = NodeBuffer.alloc(4);
    assert.is(write('i', [7], b), 4);
    assert.equal(read('i', b), [7]);
  }
});

// (an outside audit, stop 35: only read() and write()'s target were checked; a null gave a
// TypeError, an offset of 1.5 a result of 65.5, a header field's code was read off its padding)
test('the codec entry points check their own arguments first (EINVAL); errors name what they are about', () => {
  const h: DBusHeader = { type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', signature: 's' };
  const ok = encodeMessage(h, ['x']);
  BusErrorLike(() => readHeader(null as never), 'EINVAL', /bytes must be a Uint8Array, got null/);
  BusErrorLike(() => readMessage([...ok] as never), 'EINVAL', /bytes must be a Uint8Array, got array/);
  BusErrorLike(() => readHeader(ok, -8), 'EINVAL', /offset must be an integer from 0 to/);
  BusErrorLike(() => readHeader(ok, 0, ok.length + 100), 'EINVAL', /length must be an integer from 0 to/);
  BusErrorLike(() => readMessage(ok, 0.5), 'EINVAL', /offset must be an integer/);
  assert.equal(readMessage(ok).body, ['x']);
  const into = new Uint8Array(ok.length + 8);
  BusErrorLike(() => writeMessage(h, ['x'], new Array(100) as never, 0), 'EINVAL', /into must be a Uint8Array, got array/);
  BusErrorLike(() => writeMessage(h, ['x'], into, -8), 'EINVAL', /offset must be an integer/);
  BusErrorLike(() => writeMessage(h, ['x'], into, 1.5), 'EINVAL', /offset must be an integer/);
  BusErrorLike(() => write('y', [1], into, 1.5), 'EINVAL', /offset must be an integer/);
  BusErrorLike(() => sizeOf('t', [1n], 'x' as never), 'EINVAL', /start must be an integer/);
  BusErrorLike(() => sizeOf('t', [1n], -1), 'EINVAL', /start must be an integer/);
  assert.is(writeMessage(h, ['x'], into, 8), 8 + ok.length);
  // a body short of room: the message's error, naming messageSize()
  BusErrorLike(() => writeMessage(h, ['x'], new Uint8Array(ok.length - 1)), 'EMSGSIZE', /^dbus.header: EMSGSIZE: .*messageSize\(\) says how many/);
  // a signature named as the signature, not as an argument
  BusErrorLike(() => encodeMessage({ ...h, signature: 'y'.repeat(256) }, []), 'EINVAL', /^dbus.header: EINVAL: signature: invalid signature/);
  // a bad SIGNATURE field names its code, 8 (the struct's first byte, past the padding before it)
  const bad = encodeMessage(h, ['x']).slice();
  const info = readHeader(bad);
  const at = bad.indexOf(0x67, 16); // 'g', the SIGNATURE field's variant signature
  assert.ok(at > 16 && bad[at - 2] === 8, 'found the SIGNATURE field');
  bad[at + 3] = 0x7a; // its value "s" -> "z"
  BusErrorLike(() => readMessage(bad), 'EBADMSG', /\(code 8\)/);
  assert.ok(info.size === ok.length);
});

// (an outside audit, stop 41: uniqueName(-1) was ":1.-1", objectPathError(5) a TypeError,
// signatureError(5) null, "valid"; withKdbusAddresses took a null envelope or a bad id)
test('the name and signature checks call a value that is not a string invalid; uniqueName and withKdbusAddresses check ids: EINVAL', () => {
  const checks: [(s: string) => string | null, string][] = [
    [objectPathError, 'an object path'], [interfaceNameError, 'an interface name'], [memberNameError, 'a member name'],
    [errorNameError, 'an error name'], [busNameError, 'a bus name'], [namespaceError, 'a name namespace'], [signatureError, 'a signature'],
  ];
  for (const [check, what] of checks) {
    assert.is(check(5 as never), `${what} must be a string, got number`);
    assert.is(check(null as never), `${what} must be a string, got null`);
  }
  BusErrorLike(() => parseSignature(5 as never), 'EINVAL', /a signature must be a string, got number/);
  for (const id of [-1, 'x', 1.5, 2n ** 64n, -1n, NaN]) BusErrorLike(() => uniqueName(id as never), 'EINVAL', /^uniqueName: EINVAL: a connection id must be an integer 0\.\.2\^64-1 \(a number or a bigint\), got /);
  assert.is(uniqueName(2n ** 64n - 1n), ':1.18446744073709551615');
  BusErrorLike(() => uniqueNameId(5 as never), 'EINVAL', /^uniqueNameId: EINVAL: name must be a string, got number/);
  const h: DBusHeader = { type: 'signal', serial: 5, path: '/', interface: 'a.b', member: 'M' };
  BusErrorLike(() => withKdbusAddresses(h, null as never), 'EINVAL', /^withKdbusAddresses: EINVAL: env must be a KdbusEnvelope object/);
  BusErrorLike(() => withKdbusAddresses(null as never, { src: 1, dst: 2 }), 'EINVAL', /^withKdbusAddresses: EINVAL: header must be a DBusHeader object, got null/);
  BusErrorLike(() => withKdbusAddresses(h, { src: -1, dst: 7 }), 'EINVAL', /env\.src must be an integer 0\.\.2\^64-1 \(a number or a bigint\), got -1/);
  BusErrorLike(() => withKdbusAddresses(h, { src: 1, dst: 'x' as never }), 'EINVAL', /env\.dst must be an integer 0\.\.2\^64-1 \(a number or a bigint\), got string/);
  BusErrorLike(() => withKdbusAddresses(h, { src: 1, dst: 0, dstName: 'x' }), 'EINVAL', /env\.dstName: a bus name has at least 2 elements/);
  BusErrorLike(() => withKdbusAddresses(h, { src: 1, dst: 0 }, 7 as never), 'EINVAL', /self: a bus name must be a string, got number/);
  assert.equal(withKdbusAddresses(h, { src: 1, dst: 0 }, ':1.9'), { ...h, sender: ':1.1', destination: ':1.9' });
  assert.equal(h, { type: 'signal', serial: 5, path: '/', interface: 'a.b', member: 'M' }, 'the header is not changed');
});

// (stop 56, an outside audit: an `ay` given as a plain array had its length read three times
// while written; a getter answering 2, then 40 made the writer advance over 38 bytes it never
// wrote, which carried an earlier message's bytes to another receiver)
test('an ay array\'s length is read once per pass: what is written is what its length word says', () => {
  const lying = (lengths: number[], bytes = [65, 66]) => {
    let n = 0;
    return new Proxy(bytes, { get: (t, k) => (k === 'length' ? lengths[Math.min(n++, lengths.length - 1)] : Reflect.get(t, k)) });
  };
  // a scratch buffer full of other bytes first (encodeTransient reuses one)
  encodeTransient({ type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', signature: 'ay' }, [new Uint8Array(64).fill(0x5a)]);
  const sig = { type: 'signal', serial: 1, path: '/a', interface: 'a.b', member: 'M', signature: 'ay' } as const;
  // one pass (a message that fits the scratch buffer): the length read once, its bytes sent
  const once = encodeTransient(sig, [lying([2, 40])]).slice();
  assert.equal([...(readMessage(once).body[0] as Uint8Array)], [65, 66], 'the two bytes, and a length word of 2');
  // two passes (sized, then written): a length that grew between them is EINVAL, saying so
  BusErrorLike(() => encode('ay', [lying([2, 40])]), 'EINVAL', /a value changed while it was encoded/);
  BusErrorLike(() => encodeMessage(sig, [lying([2, 40])]), 'EINVAL', /a body value changed while the message was encoded/);
  // a length past the elements: an element is missing, EINVAL (never stale bytes)
  for (const enc of [(v: unknown) => encode('ay', [v]), (v: unknown) => encodeTransient(sig, [v]), (v: unknown) => encodeMessage(sig, [v])]) {
    BusErrorLike(() => enc(lying([40])), 'EINVAL', /\[2\]/);
  }
  // one that shrank between the passes: the shorter value, whole
  assert.equal([...(read('ay', encode('ay', [lying([3, 2], [65, 66, 67])]))[0] as Uint8Array)], [65, 66]);
  // a Uint8Array subclass whose length getter lies: its own bytes, by their intrinsic length
  // a Proxy over a Uint8Array, or an object with its prototype alone, is not a view: EINVAL
  for (const fake of [new Proxy(new Uint8Array([1, 2]), {}), Object.create(Uint8Array.prototype)]) {
    BusErrorLike(() => encode('ay', [fake]), 'EINVAL', /which is not a view/);
    BusErrorLike(() => encodeTransient(sig, [fake]), 'EINVAL', /which is not a view/);
  }
  class Lies extends Uint8Array { override get length() { return 40; } }
  assert.equal([...(read('ay', encode('ay', [new Lies([1, 2, 3])]))[0] as Uint8Array)], [1, 2, 3]);
});


// (stop 57, an outside audit: every message over the 64 KiB scratch was sized and written into
// an ArrayBuffer of its own after a BusError thrown and caught, its values read three times,
// on each side of every 64 KiB method call)
test('encodeTransient: a large message grows the reused buffer; the next one of its size is written in one pass, its values read once', () => {
  const sig: DBusHeader = { type: 'signal', serial: 3, path: '/a', interface: 'a.b', member: 'M', signature: 'ay' };
  for (const size of [65536, 200000, 65536 + 7, 1 << 20, 3 << 20]) {
    const big = new Uint8Array(size);
    for (let i = 0; i < size; i += 4093) big[i] = i & 0xff;
    let reads = 0;
    const body: unknown[] = [];
    Object.defineProperty(body, 0, { get() { reads++; return big; }, enumerable: true });
    Object.defineProperty(body, 'length', { value: 1 });
    const want = hex(encodeMessage(sig, [big]));
    const first = encodeTransient(sig, body);
    assert.is(hex(first), want, `${size}: first`);
    const firstReads = reads;
    assert.ok(firstReads >= 1 && firstReads <= 3, `${size}: read ${firstReads} times the first time`);
    reads = 0;
    const again = encodeTransient(sig, body);
    assert.is(hex(again), want, `${size}: again`);
    // (over MAX_PAYLOAD, 2 MiB, no send can carry it: a buffer of its own each time, the kept one left as it was)
    if (size <= 2 << 20) assert.is(reads, 1, `${size}: read once the second time`);
    else assert.ok(reads >= 2 && reads <= 3, `${size}: read ${reads} times again`);
    // a small message after it: the same bytes as ever
    assert.is(hex(encodeTransient(CASES[3][0], CASES[3][1])), LIBDBUS[3]);
  }
});

// (stop 57: V8 copies out of shared memory a byte at a time unless source and destination share
// their alignment modulo 8, and an `ay`'s bytes follow its u32 length: js/shared-copy.ts copies
// through an aligned scratch; the values must be those bytes, in arrays of their own)
test('readPayload(copyArrays): an ay of the shared memory at any alignment is copied whole into unshared memory', () => {
  const mem = new WebAssembly.Memory({ initial: 4, maximum: 8, shared: true });
  const u8 = new Uint8Array(mem.buffer);
  const sig: DBusHeader = { type: 'signal', serial: 3, path: '/a', interface: 'a.b', member: 'M', signature: 'ayays' };
  for (const n of [0, 1, 255, 256, 257, 4099, 65536]) {
    const a = new Uint8Array(n), b = new Uint8Array(n + 3);
    for (let i = 0; i < n; i++) a[i] = (i * 7 + 1) & 0xff;
    for (let i = 0; i < n + 3; i++) b[i] = (i * 13 + 5) & 0xff;
    const s = 'é'.repeat(200 + n % 5);
    const m = encodeMessage(sig, [a, b, s]);
    for (const at of [0, 1, 4, 8, 13]) {
      u8.fill(0xee);
      u8.set(m, at);
      const d = readPayload(u8, at, m.length, true);
      const [x, y, z] = d.body as [Uint8Array, Uint8Array, string];
      assert.equal([...x], [...a], `n ${n} at ${at}: first ay`);
      assert.equal([...y], [...b], `n ${n} at ${at}: second ay`);
      assert.is(z, s, `n ${n} at ${at}: the string`);
      for (const v of [x, y]) {
        assert.ok(!(v.buffer instanceof SharedArrayBuffer), 'unshared');
        assert.is(v.byteOffset, 0);
        assert.is(v.buffer.byteLength, v.length, 'an array of its own');
      }
      // later writes to the shared memory do not reach the copies
      u8.fill(0, at, at + m.length);
      assert.is(x[n - 1] ?? -1, n ? a[n - 1] : -1);
    }
  }
});

test.run();
