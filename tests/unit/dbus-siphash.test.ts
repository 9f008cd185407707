// SipHash-2-4 (js/dbus/siphash.ts) against the published reference vectors, and against a
// straightforward BigInt implementation written here from the paper.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { siphash24, siphash24Into, sipKey } from '../../js/dbus/siphash.ts';
import { BLOOM_KEYS } from '../../js/dbus/bloom.ts';
import { BusErrorLike } from './dbus-helpers.ts';

// The 64-bit vectors of the SipHash reference implementation (vectors.h, vectors_sip64): key
// 00 01 .. 0f, message 00 01 .. (n-1), n = 0..63, each as a u64.
const VECTORS = [
  0x726fdb47dd0e0e31n, 0x74f839c593dc67fdn, 0x0d6c8009d9a94f5an, 0x85676696d7fb7e2dn,
  0xcf2794e0277187b7n, 0x18765564cd99a68dn, 0xcbc9466e58fee3cen, 0xab0200f58b01d137n,
  0x93f5f5799a932462n, 0x9e0082df0ba9e4b0n, 0x7a5dbbc594ddb9f3n, 0xf4b32f46226bada7n,
  0x751e8fbc860ee5fbn, 0x14ea5627c0843d90n, 0xf723ca908e7af2een, 0xa129ca6149be45e5n,
  0x3f2acc7f57c29bdbn, 0x699ae9f52cbe4794n, 0x4bc1b3f0968dd39cn, 0xbb6dc91da77961bdn,
  0xbed65cf21aa2ee98n, 0xd0f2cbb02e3b67c7n, 0x93536795e3a33e88n, 0xa80c038ccd5ccec8n,
  0xb8ad50c6f649af94n, 0xbce192de8a85b8ean, 0x17d835b85bbb15f3n, 0x2f2e6163076bcfadn,
  0xde4daaaca71dc9a5n, 0xa6a2506687956571n, 0xad87a3535c49ef28n, 0x32d892fad841c342n,
  0x7127512f72f27ccen, 0xa7f32346f95978e3n, 0x12e0b01abb051238n, 0x15e034d40fa197aen,
  0x314dffbe0815a3b4n, 0x027990f029623981n, 0xcadcd4e59ef40c4dn, 0x9abfd8766a33735cn,
  0x0e3ea96b5304a7d0n, 0xad0c42d6fc585992n, 0x187306c89bc215a9n, 0xd4a60abcf3792b95n,
  0xf935451de4f21df2n, 0xa9538f0419755787n, 0xdb9acddff56ca510n, 0xd06c98cd5c0975ebn,
  0xe612a3cb9ecba951n, 0xc766e62cfcadaf96n, 0xee64435a9752fe72n, 0xa192d576b245165an,
  0x0a8787bf8ecb74b2n, 0x81b3e73d20b49b6fn, 0x7fa8220ba3b2ecean, 0x245731c13ca42499n,
  0xb78dbfaf3a8d83bdn, 0xea1ad565322a1a0bn, 0x60e61c23a3795013n, 0x6606d7e446282b93n,
  0x6ca4ecb15c5f91e1n, 0x9f626da15c9625f3n, 0xe51b38608ef25f57n, 0x958a324ceb064572n,
];

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i);
const seq = (n: number) => Uint8Array.from({ length: n }, (_, i) => i);

// the reference algorithm, 64-bit words as BigInt
const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M64;
function refSip(key: Uint8Array, m: Uint8Array): bigint {
  const le = (b: Uint8Array, o: number, n = 8) => { let r = 0n; for (let i = n - 1; i >= 0; i--) r = (r << 8n) | BigInt(b[o + i]); return r; };
  const k0 = le(key, 0), k1 = le(key, 8);
  let v0 = k0 ^ 0x736f6d6570736575n, v1 = k1 ^ 0x646f72616e646f6dn, v2 = k0 ^ 0x6c7967656e657261n, v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & M64; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M64; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M64; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const whole = m.length - (m.length % 8);
  for (let i = 0; i < whole; i += 8) { const w = le(m, i); v3 ^= w; round(); round(); v0 ^= w; }
  const b = (BigInt(m.length & 0xff) << 56n) | le(m, whole, m.length - whole);
  v3 ^= b; round(); round(); v0 ^= b;
  v2 ^= 0xffn; round(); round(); round(); round();
  return v0 ^ v1 ^ v2 ^ v3;
}

test('the 64 reference vectors (key 00..0f, messages 00..n-1)', () => {
  assert.is(VECTORS.length, 64);
  assert.is(VECTORS[0], 0x726fdb47dd0e0e31n, 'the empty message');
  for (let n = 0; n < 64; n++) assert.is(siphash24(KEY, seq(n)), VECTORS[n], `length ${n}`);
});

test('the BigInt reference implementation agrees with the vectors', () => {
  for (let n = 0; n < 64; n++) assert.is(refSip(KEY, seq(n)), VECTORS[n], `length ${n}`);
});

test('random keys and messages (lengths 0..200): the 32-bit-halves code equals the BigInt reference', () => {
  let s = 12345;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
  for (let t = 0; t < 300; t++) {
    const key = Uint8Array.from({ length: 16 }, rnd);
    const m = Uint8Array.from({ length: t % 201 }, rnd);
    assert.is(siphash24(key, m), refSip(key, m), `case ${t}`);
  }
  for (const k of BLOOM_KEYS) assert.is(siphash24(k, new TextEncoder().encode('member:Changed')), refSip(k, new TextEncoder().encode('member:Changed')));
});

test('siphash24Into hashes a range in place and allocates no result', () => {
  const k = sipKey(KEY);
  const out = new Uint32Array(2);
  const buf = new Uint8Array(80);
  buf.set(seq(63), 9);
  siphash24Into(k, buf, 9, 63, out);
  assert.is((BigInt(out[1]) << 32n) | BigInt(out[0]), VECTORS[63]);
  assert.throws(() => sipKey(new Uint8Array(15)), /16 bytes/);
});

// (an outside audit, stop 41: a key of the wrong length was a RangeError)
test('siphash24, sipKey and siphash24Into check their arguments: EINVAL naming the rule', () => {
  BusErrorLike(() => siphash24(new Uint8Array(4), new Uint8Array(1)), 'EINVAL', /^siphash24: EINVAL: a SipHash key is 16 bytes, got 4/);
  BusErrorLike(() => siphash24(new Uint8Array(16), 'abc' as never), 'EINVAL', /^siphash24: EINVAL: data must be a Uint8Array, got string/);
  BusErrorLike(() => sipKey([1, 2] as never), 'EINVAL', /^sipKey: EINVAL: key must be a Uint8Array, got array/);
  const k = sipKey(new Uint8Array(16)), out = new Uint32Array(2);
  BusErrorLike(() => siphash24Into(k, new Uint8Array(8), 4, 5, out), 'EINVAL', /^siphash24Into: EINVAL: len must be an integer from 0 to 4, got 5/);
  BusErrorLike(() => siphash24Into(k, new Uint8Array(8), 9, 0, out), 'EINVAL', /^siphash24Into: EINVAL: off must be an integer from 0 to 8, got 9/);
  BusErrorLike(() => siphash24Into(new Uint32Array(3), new Uint8Array(8), 0, 8, out), 'EINVAL', /^siphash24Into: EINVAL: k must be sipKey/);
  BusErrorLike(() => siphash24Into(k, new Uint8Array(8), 0, 8, new Uint32Array(1)), 'EINVAL', /^siphash24Into: EINVAL: out must be a Uint32Array/);
  assert.equal([...out], [0, 0], 'nothing written');
});

test.run();
