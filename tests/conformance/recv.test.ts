// RECV and FREE: FIFO, PEEK, DROP, USE_PRIORITY, EAGAIN; FREE of published slices only.
import * as assert from 'uvu/assert';
import { abi as A } from '../../js/index.ts';
import { busSuite, open } from '../helpers/harness.ts';
import { hostVec } from '../helpers/raw.ts';

const t = busSuite('RECV / FREE');

function setup(raw: Parameters<typeof open>[0]) {
  const a = open(raw), b = open(raw);
  const send = (cookie: number, priority = 0) =>
    assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id, cookie, priority: BigInt(priority) }, items: [hostVec(16)] }), 0);
  const cookieOf = (off: number) => raw.r64(raw.slice(b.slot, off) + A.MSG_COOKIE);
  return { a, b, send, cookieOf };
}

t('empty queue -> EAGAIN, offset = pool_size and size 0 (FREE of it is a no-op)', ({ raw }) => {
  const { b } = setup(raw);
  const m = raw.recv(b.slot, b.gen);
  assert.is(m.r, -A.EAGAIN);
  assert.is(m.offset, 16384);
  assert.is(m.size, 0);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
});

t('FIFO order; every slice freed', ({ raw, e }) => {
  const { b, send, cookieOf } = setup(raw);
  for (let i = 1; i <= 5; i++) send(i, 5 - i);
  const offs = [];
  for (let i = 1; i <= 5; i++) {
    const m = raw.recv(b.slot, b.gen);
    assert.is(m.r, 0);
    assert.is(cookieOf(m.offset), i);
    offs.push(m.offset);
  }
  assert.is(raw.recv(b.slot, b.gen).r, -A.EAGAIN);
  assert.is(new Set(offs).size, 5, 'distinct slices');
  for (const o of offs.reverse()) assert.is(raw.free(b.slot, b.gen, o), 0);
  assert.is(e.poolUsed(b.slot), 0);
});

t('PEEK publishes the head but keeps it queued; FREE of a peeked slice keeps the message', ({ raw, e }) => {
  const { b, send, cookieOf } = setup(raw);
  send(1); send(2);
  const p1 = raw.recv(b.slot, b.gen, A.RECV_PEEK);
  assert.is(p1.r, 0);
  assert.is(cookieOf(p1.offset), 1);
  assert.is(e.queued(b.slot), 2);
  const p2 = raw.recv(b.slot, b.gen, A.RECV_PEEK);
  assert.is(p2.offset, p1.offset, 'peeking again gives the same slice');
  assert.is(raw.free(b.slot, b.gen, p1.offset), 0);
  assert.is(raw.free(b.slot, b.gen, p1.offset), -A.ENXIO, 'published once, freed once');
  assert.is(e.queued(b.slot), 2);
  const m = raw.recv(b.slot, b.gen);
  assert.is(m.offset, p1.offset);
  assert.is(e.queued(b.slot), 1);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  // peek, then receive, then free once
  const p3 = raw.recv(b.slot, b.gen, A.RECV_PEEK);
  const m3 = raw.recv(b.slot, b.gen);
  assert.is(m3.offset, p3.offset);
  assert.is(raw.free(b.slot, b.gen, m3.offset), 0);
  assert.is(raw.free(b.slot, b.gen, m3.offset), -A.ENXIO);
});

t('DROP dequeues without publishing; a peeked then dropped slice stays until freed', ({ raw, e }) => {
  const { b, send, cookieOf } = setup(raw);
  send(1); send(2); send(3);
  const d = raw.recv(b.slot, b.gen, A.RECV_DROP);
  assert.is(d.r, 0);
  assert.is(d.offset, 16384, 'nothing published');
  assert.is(e.queued(b.slot), 2);
  const p = raw.recv(b.slot, b.gen, A.RECV_PEEK);
  assert.is(cookieOf(p.offset), 2);
  assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP).r, 0);
  assert.is(cookieOf(p.offset), 2, 'still readable: the peek published it');
  assert.is(raw.free(b.slot, b.gen, p.offset), 0);
  const m = raw.recv(b.slot, b.gen);
  assert.is(cookieOf(m.offset), 3);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP).r, -A.EAGAIN);
  assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP | A.RECV_PEEK).r, -A.EAGAIN);
});

t('USE_PRIORITY: lowest value first, FIFO among equals, only if <= the given priority', ({ raw }) => {
  const { b, send, cookieOf } = setup(raw);
  send(1, 5); send(2, -2); send(3, 7); send(4, -2); send(5, -(2 ** 40));
  const take = (prio: number) => {
    const m = raw.recv(b.slot, b.gen, A.RECV_USE_PRIORITY, BigInt(prio));
    if (m.r !== 0) return m.r;
    const c = cookieOf(m.offset);
    assert.is(raw.free(b.slot, b.gen, m.offset), 0);
    return c;
  };
  assert.is(take(-(2 ** 41)), -A.EAGAIN, 'nothing that urgent');
  assert.is(take(0), 5);
  assert.is(take(0), 2);
  assert.is(take(0), 4);
  assert.is(take(0), -A.EAGAIN, 'the rest are above 0');
  assert.is(take(100), 1);
  // without the flag: plain FIFO
  const m = raw.recv(b.slot, b.gen);
  assert.is(cookieOf(m.offset), 3);
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
});

t('DROP | USE_PRIORITY -> EINVAL; unknown flags, items or sizes -> EINVAL / EMSGSIZE', ({ raw, e }) => {
  const { b, send } = setup(raw);
  send(1);
  assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP | A.RECV_USE_PRIORITY).r, -A.EINVAL);
  assert.is(raw.recv(b.slot, b.gen, 16).r, -A.EINVAL, 'an unknown flag');
  assert.is(raw.recv(b.slot, b.gen, A.RECV_REPLY).r, -A.EAGAIN, 'RECV_REPLY with cookie 0: no end of a call queued (EINVAL before stop 11)');
  assert.is(raw.recv(b.slot, b.gen, 0, 0, 56).r, -A.EINVAL);
  assert.is(raw.recv(b.slot, b.gen, 0, 0, 80).r, -A.EINVAL);
  assert.is(raw.recv(b.slot, b.gen, 0, 0, A.CMD_MAX + 8).r, -A.EMSGSIZE);
  assert.is(e.queued(b.slot), 1, 'nothing changed');
  assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP).r, 0);
});

t('FREE: an offset that is not a published slice -> ENXIO, nothing changes', ({ raw, e }) => {
  const { b, send } = setup(raw);
  send(1); send(2);
  const m = raw.recv(b.slot, b.gen);
  const used = e.poolUsed(b.slot);
  for (const off of [0, 8, m.offset + 8, m.offset - 8, 16384 - 8, 16384 + 8, 2 ** 40, m.offset + 4]) {
    assert.is(raw.free(b.slot, b.gen, off), -A.ENXIO, `offset ${off}`);
  }
  // the queued (unpublished) message is not freeable either
  const queuedOff = m.offset + 32 + 128;
  assert.is(raw.free(b.slot, b.gen, queuedOff), -A.ENXIO);
  assert.is(e.poolUsed(b.slot), used);
  assert.is(e.queued(b.slot), 1);
  assert.is(raw.free(b.slot, b.gen, m.offset, 1), -A.EINVAL, 'flags');
  assert.is(raw.free(b.slot, b.gen, m.offset, 0, 48), -A.EINVAL, 'items');
  assert.is(raw.free(b.slot, b.gen, m.offset), 0);
  assert.is(raw.recv(b.slot, b.gen, A.RECV_DROP).r, 0);
});

t('pool: best fit, split and merge give the whole pool back', ({ raw, e, mock }) => {
  const b = open(raw, { poolSize: 16384 });
  mock.setCreds({ uid: 1 });
  const a = open(raw);
  const sizes = [100, 700, 40, 2000, 8, 300, 1200, 64];
  const offs: number[] = [];
  for (const s of sizes) {
    assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(s)] }), 0);
    offs.push(raw.recv(b.slot, b.gen).offset);
  }
  // free every other slice, then a message that fits a freed hole exactly goes there (best fit)
  for (const i of [1, 3, 5]) assert.is(raw.free(b.slot, b.gen, offs[i]), 0);
  assert.is(raw.send(a.slot, a.gen, { msg: { dst: b.id }, items: [hostVec(300)] }), 0);
  const again = raw.recv(b.slot, b.gen).offset;
  assert.is(again, offs[5], 'the 300-byte hole is the best fit');
  for (const i of [0, 2, 4, 6, 7]) assert.is(raw.free(b.slot, b.gen, offs[i]), 0);
  assert.is(raw.free(b.slot, b.gen, again), 0);
  assert.is(e.poolUsed(b.slot), 0);
  // everything merged: one message of almost the whole pool fits again
  mock.setCreds({ uid: 1 });
  const c = e.connAddr(b.slot);
  assert.is(e.u32[(c + A.CONN_FREE) >>> 2], e.poolBase(b.slot), 'one free block at the pool start');
  assert.is(e.u32[(e.poolBase(b.slot) + A.BLOCK_SIZE) >>> 2], 16384);
});

t.run();
