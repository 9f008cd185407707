// Errors the core reports: beside the errno, the reason (R_*) naming the rule that failed, and
// the message the host makes of it (js/cmd/reasons.ts), quoting the values and limits.
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { Bus, BusError, MockProvider, abi as A, describeReason, type Message } from '../../js/index.ts';
import { REASONS } from '../../js/cmd/index.ts';
import { busSuite, open, ENGINE, SMALL } from '../helpers/harness.ts';

const t = busSuite('core-reported errors');

/** fn throws a BusError with this errno and reason whose message is exactly `message` (or contains each string of it). */
function throwsReason(fn: () => unknown, code: string, reason: number, message: string | string[]) {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  assert.instance(err, BusError, `expected ${code}`);
  const b = err as BusError;
  assert.is(b.code, code, b.message);
  assert.is(b.reason, reason, `reason of: ${b.message}`);
  if (typeof message === 'string') assert.is(b.message, message);
  else for (const m of message) assert.ok(b.message.includes(m), `${JSON.stringify(b.message)} should include ${JSON.stringify(m)}`);
}

t('HELLO: CONN_DESCRIPTION rules, named with the description', ({ bus }) => {
  throwsReason(() => bus.connect({ description: 'has space' }), 'EINVAL', A.R_DESC_CHARS,
    'connect: EINVAL: HELLO: CONN_DESCRIPTION "has space" may contain only [A-Za-z0-9_.-] (byte 3 is not one of them)');
  throwsReason(() => bus.connect({ description: '' }), 'EINVAL', A.R_DESC_EMPTY,
    'connect: EINVAL: HELLO: CONN_DESCRIPTION must not be empty');
  throwsReason(() => bus.connect({ description: 'café' }), 'EINVAL', A.R_DESC_CHARS,
    'connect: EINVAL: HELLO: CONN_DESCRIPTION "café" may contain only [A-Za-z0-9_.-] (byte 3 is not one of them)');
  throwsReason(() => bus.connect({ description: '.dot' }), 'EINVAL', A.R_DESC_EDGE, ['CONN_DESCRIPTION ".dot" must not start or end with']);
  throwsReason(() => bus.connect({ description: 'x'.repeat(64) }), 'ENAMETOOLONG', A.R_DESC_LONG, ['is 64 bytes, longer than 63']);
});

t('HELLO: pool size, with the size and its granularity or the bus limit', ({ bus }) => {
  throwsReason(() => bus.connect({ poolSize: 1000 }), 'EINVAL', A.R_HELLO_POOL_SIZE,
    'connect: EINVAL: HELLO: pool_size 1000 must be a non-zero multiple of 4096 bytes (poolSize)');
  throwsReason(() => bus.connect({ poolSize: SMALL!.poolMax! * 2 }), 'ENOMEM', A.R_HELLO_POOL_MAX,
    [`pool_size ${SMALL!.poolMax! * 2} is larger than the bus's pool_max (${SMALL!.poolMax} bytes, limits.poolMax)`]);
  throwsReason(() => bus.connect({ flags: A.HELLO_POLICY_HOLDER }), 'EOPNOTSUPP', A.R_HELLO_KIND_UNSUPPORTED, ['policy holders are not supported']);
});

t('SEND: a destination that is no name, no id, nobody', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (const dst of ['abc', ':1.abc']) {
    throwsReason(() => a.send(dst, new Uint8Array(1)), 'EINVAL', A.R_SEND_NAME_INVALID,
      [`send: EINVAL: SEND: the destination ${JSON.stringify(dst)} is not a well-known name`, 'nor a unique name ":1.<id>"']);
  }
  throwsReason(() => a.send(999, null), 'ENXIO', A.R_SEND_NO_RECEIVER, 'send: ENXIO: SEND: no open connection has the id 999');
  throwsReason(() => a.send(':1.999', null), 'ENXIO', A.R_SEND_NO_RECEIVER, 'send: ENXIO: SEND: no open connection has the id ":1.999"');
  throwsReason(() => a.send('org.example.Nobody', null), 'ESRCH', A.R_SEND_NAME_NO_OWNER, 'send: ESRCH: SEND: no connection owns the name "org.example.Nobody"');
  throwsReason(() => a.send(0, null), 'EDESTADDRREQ', A.R_SEND_NO_DST, ['dst_id is 0 and there is no DST_NAME']);
  throwsReason(() => a.send(b.id, new Uint8Array(A.MAX_PAYLOAD + 1)), 'EMSGSIZE', A.R_SEND_PAYLOAD_MAX, [`the payload is larger than ${A.MAX_PAYLOAD} bytes`]);
  throwsReason(() => a.send(b.id, null, { flags: A.MSG_SIGNAL }), 'EBADMSG', A.R_SEND_BLOOM_SIGNAL, ['a SIGNAL carries a BLOOM_FILTER']);
});

t('SEND over quota: messages per user, with the limit', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (let i = 0; i < A.MAX_QUEUED_PER_USER; i++) a.send(b.id, null);
  throwsReason(() => a.send(b.id, null), 'ENOBUFS', A.R_SEND_QUOTA_MSGS,
    `send: ENOBUFS: SEND: the receiver's per-user quota allows ${A.MAX_QUEUED_PER_USER} queued messages, and this sending user (its uid: the connections of every thread with that uid count together) has ${A.MAX_QUEUED_PER_USER} queued there (sendAsync waits for room, replyAsync for a reply, emitAsync for a signal)`);
  while (b.drop());
});

t('SEND over quota: bytes per user, with the share in bytes', ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 16384 });
  // half the pool is shared among senders, a third of it per sending user: 8192 / 3
  // a message larger than that share can never fit (issue 10: its own reason)
  throwsReason(() => a.send(b.id, new Uint8Array(4000)), 'ENOBUFS', A.R_SEND_NEVER_FITS,
    ['SEND: the message can never fit in the receiver', 'may hold at most 2730 bytes of its pool']);
  a.send(b.id, new Uint8Array(1000));
  throwsReason(() => a.send(b.id, new Uint8Array(1700)), 'ENOBUFS', A.R_SEND_QUOTA_BYTES,
    ["SEND: the receiver's per-user byte quota is used up: this sending user (its uid: the connections of every thread with that uid count together) may have 2730 bytes queued in the receiver's pool"]);
  throwsReason(() => a.send(b.id, new Uint8Array(1700)), 'ENOBUFS', A.R_SEND_QUOTA_BYTES, ['may have 2730 bytes queued']);
  b.drop();
});

t('SEND into a full pool: EXFULL, with the block size needed', ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ poolSize: 16384 });
  const held: Message[] = [];
  // received and not freed: out of the quota, still in the pool
  const need = A.BLOCK_HDR + A.MSG_HDR + A.VEC_ITEM_SIZE + 1000;
  let err: unknown;
  for (let i = 0; i < 100 && !err; i++) {
    try { a.send(b.id, new Uint8Array(1000)); held.push(b.recv()!); } catch (e) { err = e; }
  }
  throwsReason(() => { throw err; }, 'EXFULL', A.R_SEND_POOL_FULL,
    `send: EXFULL: SEND: the receiver's pool is full: no free block of ${need} bytes for this message (received messages not yet freed stay in the pool)`);
  for (const m of held) m.free();
});

t('BYEBYE with queued messages: how many', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.send(b.id, null);
  a.send(b.id, null);
  throwsReason(() => b.close(), 'EBUSY', A.R_BYEBYE_QUEUED, 'close: EBUSY: BYEBYE: 2 message(s) are still queued: receive or drop them first');
  while (b.drop());
});

t('raw: the reason words in the thread slot, for any command', ({ raw }) => {
  const a = open(raw), b = open(raw);
  let r = raw.send(a.slot, a.gen, { msg: { dst: 99 } });
  assert.is(r, -A.ENXIO);
  assert.equal(raw.reason, { reason: A.R_SEND_NO_RECEIVER, arg: 0 });
  assert.is(raw.message(r, 'SEND'), 'SEND: no open connection has the id');
  r = raw.recv(b.slot, b.gen).r;
  assert.is(r, -A.EAGAIN);
  assert.equal(raw.reason, { reason: A.R_RECV_EMPTY, arg: 0 });
  r = raw.recv(b.slot, b.gen, 0, 0, A.RECV_CMD_SIZE + 8).r;
  assert.is(r, -A.EINVAL);
  assert.equal(raw.reason, { reason: A.R_CMD_ITEMS, arg: A.RECV_CMD_SIZE });
  r = raw.free(b.slot, b.gen, 0, 1n << 40n);
  assert.is(r, -A.EINVAL);
  assert.equal(raw.reason, { reason: A.R_CMD_FLAGS, arg: 0 });
  assert.is(raw.message(r, 'FREE'), 'FREE: unknown command flags (allowed: 0x0)');
  assert.is(raw.hello({ poolSize: 4096, flags: A.HELLO_ACTIVATOR | A.HELLO_MONITOR }).r, -A.EINVAL);
  assert.equal(raw.reason, { reason: A.R_HELLO_KINDS, arg: 0 });
  assert.is(raw.byebye(A.MAX_CONNS, 0), -A.EBADF);
  assert.equal(raw.reason, { reason: A.R_BAD_HANDLE, arg: SMALL!.connections });
  // a reason that does not go with the errno is not used: the errno's own message is
  assert.is(raw.message(-A.EPERM, 'BYEBYE'), null);
});

t('an unknown command number throws, and runs nothing (the first unknown is 19: 16..18 are send_aside, send_resume, send_abandon)', ({ bus }) => {
  const e = bus.engine as unknown as { run(op: number, a: number, b: number): number };
  const before = bus.engine.u8.slice(A.BUS_BASE, A.BUS_BASE + 65536);
  for (const op of [19, 99, -1, 0.5, NaN]) {
    assert.throws(() => e.run(op, 0, 0), (err: unknown) => err instanceof BusError && err.errno === A.EINVAL && /unknown command/.test(err.message), `op ${op}`);
  }
  assert.equal(bus.engine.u8.slice(A.BUS_BASE, A.BUS_BASE + 65536), before, 'nothing changed');
});

// (an outside audit, stop 35: the engine's own EDEADLK wrote no reason, and an earlier
// broadcast's R_BCAST_BUS_LOCK, EDEADLK too, gave this failure its text)
t('the engine\'s EDEADLK (a lock wait that ran out) writes its own reason: R_LOCK_WAIT, with the holder\'s thread id', ({ bus, e }) => {
  const a = bus.connect(), b = bus.connect();
  const reason = (e.cmd - A.THREAD_CMD + A.THREAD_REASON) >>> 2;
  e.u32[reason] = A.R_BCAST_BUS_LOCK; // a stale reason of the same errno
  const lock = (e.connAddr(b.slot) + A.CONN_LOCK) >>> 2;
  const holder = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2]; // the last thread slot's id: not LIVE here
  assert.ok(holder > 1);
  Atomics.store(e.i32, lock, holder);
  const waitMs = e.lockWaitMs;
  e.lockWaitMs = 5;
  try {
    throwsReason(() => a.sendText(b.id, 'x'), 'EDEADLK', A.R_LOCK_WAIT,
      `sendText: EDEADLK: SEND: a lock this command needs stayed held past its wait by thread slot ${holder - 1}, which never let go of it meanwhile: dead and not recovered yet, stuck, or live but descheduled that long on a loaded machine (a wait of 50 ms on a page's main thread is short): the command gave up, having changed nothing`);
    assert.is(e.u32[reason + 1], holder, 'arg: the holder\'s thread id');
  } finally {
    e.lockWaitMs = waitMs;
    Atomics.store(e.i32, lock, 0);
  }
  assert.is(b.queued, 0, 'nothing sent');
  a.sendText(b.id, 'y');
  const m = b.recv()!;
  assert.is(m.text(), 'y');
  m.free();
  a.close();
  b.close();
});

t('describeReason: a raw reason\'s text, with its argument, and its errnos; null for a number that is no reason', () => {
  const q = describeReason(A.R_SEND_QUOTA_MSGS, 256);
  assert.ok(q);
  assert.equal(q!.errnos, [A.ENOBUFS]);
  assert.ok(q!.text.includes('256'), q!.text);
  assert.is(describeReason(A.R_LOCK_WAIT, 3)?.text, 'a lock this command needs stayed held past its wait by thread slot 2, which never let go of it meanwhile: dead and not recovered yet, stuck, or live but descheduled that long on a loaded machine (a wait of 50 ms on a page\'s main thread is short): the command gave up, having changed nothing');
  for (const x of [0, 99999, 1.5, -3, NaN, '300' as unknown as number]) assert.is(describeReason(x), null, String(x));
  assert.is(describeReason(A.R_CMD_TOO_LARGE, 1.5)?.errnos[0], A.EMSGSIZE, 'a bad arg reads as 0');
});

t('every reason has its text and the errnos it goes with', () => {
  const names = Object.keys(A).filter((k) => k.startsWith('R_') && k !== 'R_NONE');
  const values = new Set<number>();
  for (const k of names) {
    const v = (A as Record<string, number>)[k];
    assert.not.ok(values.has(v), `${k}: its number ${v} is another reason's`);
    values.add(v);
    const entry = REASONS[v];
    assert.ok(entry, `${k} has a text in js/cmd/reasons.ts`);
    assert.ok(entry[0].length > 0 && entry[0].every((n) => typeof n === 'number' && n > 0), `${k}: its errnos`);
    assert.type(entry[1](1, {}), 'string');
  }
  assert.equal(Object.keys(REASONS).map(Number).sort((x, y) => x - y), [...values].sort((x, y) => x - y), 'no text without its reason');
});

t.run();

// BUS_MAKE runs before any thread joins: its reason goes before its command area
const m = suite(`BUS_MAKE errors [${ENGINE}]`);
m('limits out of range: named with the BusLimits field and the bound', async () => {
  const create = (limits: Record<string, number>, bloom?: { size?: number; hashes?: number }) =>
    Bus.create({ engine: ENGINE, provider: new MockProvider(), limits: { ...SMALL, ...limits }, bloom });
  const cases: [Promise<Bus>, string, number, string][] = [
    [create({ threads: 2000 }), 'EINVAL', A.R_MAKE_N_THREADS, 'Bus.create: EINVAL: BUS_MAKE: n_threads must be 1 to 1024 (limits.threads)'],
    [create({ threads: 0 }), 'EINVAL', A.R_MAKE_N_THREADS, 'Bus.create: EINVAL: BUS_MAKE: n_threads must be 1 to 1024 (limits.threads)'],
    [create({ connections: 0 }), 'EINVAL', A.R_MAKE_N_CONNS, `Bus.create: EINVAL: BUS_MAKE: n_conns must be 1 to ${A.MAX_CONNS} (limits.connections)`],
    [create({ poolMax: 6000 }), 'EINVAL', A.R_MAKE_POOL_MAX, `Bus.create: EINVAL: BUS_MAKE: pool_max must be a multiple of 4096 from 4096 to ${A.MAX_POOL} bytes (limits.poolMax)`],
    [create({ names: A.MAX_CONNS * 4 + 1 }), 'EINVAL', A.R_MAKE_N_NAMES, `Bus.create: EINVAL: BUS_MAKE: n_names must be at most ${A.MAX_CONNS * 4} (limits.names)`],
    [create({}, { size: 12 }), 'EINVAL', A.R_MAKE_BLOOM_SIZE, 'Bus.create: EINVAL: BUS_MAKE: bloom_size must be 8 to 4096 bytes, a multiple of 8 (bloom.size)'],
    [create({}, { hashes: 0 }), 'EINVAL', A.R_MAKE_BLOOM_N_HASH, 'Bus.create: EINVAL: BUS_MAKE: bloom_n_hash must be at least 1 (bloom.hashes)'],
  ];
  for (const [p, code, reason, message] of cases) {
    const err = await p.then(() => null, (e: unknown) => e);
    assert.instance(err, BusError, message);
    assert.is((err as BusError).code, code);
    assert.is((err as BusError).reason, reason, message);
    assert.is((err as BusError).message, message);
  }
});
m.run();
