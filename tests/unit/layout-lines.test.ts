// The layout's 64-byte lines (js/shared/abi.ts; docs/BENCHMARKS.md, stop 27): between a
// sender's thread and a receiver's, what a message costs is mostly the cache lines they hand
// back and forth. These checks keep the layout decisions that were measured: a word that both
// sides write per message sits on a line they share anyway (the lock's), and a word that only
// senders write does not sit on a line every receive reads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as A from '../../js/shared/abi.ts';

const line = (off: number) => Math.floor(off / 64);

test("a connection's space word shares its lock's line (every SEND reads it, every RECV and FREE bumps it, all under that lock)", () => {
  assert.is(line(A.CONN_SPACE), line(A.CONN_LOCK));
  // and so do the queue counters and the free list those commands update under it
  for (const w of [A.CONN_N_QUEUED, A.CONN_FREE, A.CONN_PUB, A.CONN_ACCOUNTED, A.CONN_USED]) assert.is(line(w), line(A.CONN_LOCK));
});

test("the bus's seqnum (written by every send) is not on a line of the table addresses every RECV and FREE reads", () => {
  for (const w of [A.BUS_CONNS, A.BUS_THREADS, A.BUS_REPLIES, A.BUS_METAS, A.BUS_POOLS, A.BUS_IDS, A.BUS_PUBMAPS, A.BUS_ID_MASK, A.BUS_N_CONNS]) {
    assert.is.not(line(A.BUS_SEQNUM), line(w), `seqnum shares a line with the word at ${w}`);
  }
  assert.is(A.BUS_SEQNUM % 8, 0, 'a u64, aligned');
  assert.ok(A.BUS_SEQNUM + 8 <= A.BUS_SIZE);
});

test('the moved words do not overlap any other word of their slot or header', () => {
  const conn = Object.entries(A).filter(([k, v]) => k.startsWith('CONN_') && typeof v === 'number' && v < A.CONN_SIZE && !/^CONN_(SIZE|FREE_SLOT|ACTIVE|CLOSING|DESC|QUOTA)$/.test(k));
  const at = new Map<number, string[]>();
  for (const [k, v] of conn) at.set(v as number, [...(at.get(v as number) ?? []), k]);
  assert.equal(at.get(A.CONN_SPACE), ['CONN_SPACE']);
  assert.equal(at.get(A.CONN_DESC_LEN), ['CONN_DESC_LEN']);
  const bus = Object.entries(A).filter(([k, v]) => k.startsWith('BUS_') && typeof v === 'number' && v >= A.BUS_SEQNUM - 4 && v < A.BUS_SEQNUM + 8);
  assert.equal(bus.map(([k]) => k), ['BUS_SEQNUM']);
});

test.run();
