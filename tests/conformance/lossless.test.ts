// Lossless broadcast delivery: a broadcast that meets a receiver whose lock is held stops
// there (WOULDBLOCK, its position in op_from), the host waits on the lock word and runs it
// again, and it goes on at that receiver: every receiver gets it once, with one seqnum. A
// holder that is not LIVE makes the host give its wait up: that receiver alone is passed
// over (one loss, its DROPPED_MSGS), the others get it. Raw ABI, both engines.
//
// The holder is a second engine on the same memory, holding a receiver's lock word as a
// command in flight would. This file's thread cannot run the holder while it waits, so the
// holder's release is made from inside this engine's wait (`releaseOnWait`), which is where a
// real holder on another thread would release it; tests/threads/lossless.test.ts runs the
// real thing.
import * as assert from 'uvu/assert';
import { abi as A, type Engine } from '../../js/index.ts';
import { busSuite, open, anotherEngine } from '../helpers/harness.ts';
import { checkBus, checkNames, stateImage, firstDifference } from '../helpers/check.ts';
import { ALL, vec, hostVec, str, type Item, type Raw } from '../helpers/raw.ts';

const t = busSuite('lossless broadcast', { hooks: true }); // another() and fault injection: the hooks build

const another = (memory: WebAssembly.Memory): Promise<Engine> => anotherEngine(memory, 7);

type H = ReturnType<typeof open>;
const filter = (): Item => ({ type: A.ITEM_BLOOM_FILTER, data: new Uint8Array(8 + 64) });
const lockWord = (e: Engine, h: H) => (e.connAddr(h.slot) + A.CONN_LOCK) >>> 2;
const lost = (e: Engine, h: H) => e.u32[(e.connAddr(h.slot) + A.CONN_KMSG_LOST) >>> 2];
const op = (e: Engine) => e.u32[(e.cmd - A.THREAD_CMD + A.THREAD_OP) >>> 2];

/** Receivers with a match-everything entry and TIMESTAMP in their receive mask. */
function receivers(raw: Raw, n: number): H[] {
  const out: H[] = [];
  for (let i = 0; i < n; i++) {
    const h = open(raw, { attachRecv: A.ATTACH_TIMESTAMP });
    assert.is(raw.matchAdd(h.slot, h.gen, 1), 0);
    out.push(h);
  }
  return out;
}

/** Hold `h`'s lock as thread `holder` would (its id in the word). */
function hold(e: Engine, h: H, holder: Engine): void {
  assert.is(Atomics.compareExchange(e.u32, lockWord(e, h), 0, holder.threadSlot + 1), 0);
}
/** Release it as its holder does (waking a waiter). */
function release(e: Engine, h: H): void {
  Atomics.store(e.i32, lockWord(e, h), 0);
  Atomics.notify(e.i32, lockWord(e, h));
}
/** The held lock of `h` is released while this engine waits for it (its first wait). */
function releaseOnWait(e: Engine, h: H): () => number {
  const x = e as unknown as { waitLock(left: number): void };
  const orig = x.waitLock;
  let waits = 0;
  x.waitLock = function (this: unknown, left: number) {
    if (waits++ === 0) release(e, h);
    return orig.call(this, left);
  };
  return () => { x.waitLock = orig; return waits; };
}

/** Receive everything queued for `h` (freeing it): the seqnums of its TIMESTAMP items, and the dropped count reported. */
function seqnums(raw: Raw, h: H): { seqs: number[]; dropped: number } {
  const seqs: number[] = [];
  let dropped = 0;
  for (;;) {
    const m = raw.recv(h.slot, h.gen);
    dropped += m.dropped;
    if (m.r === -A.EAGAIN) break;
    assert.is(m.r, 0);
    const s = raw.slice(h.slot, m.offset), end = s + raw.r64(s + A.MSG_SIZE);
    // only broadcasts (a match-everything entry gets the bus's notifications too: src 0);
    // each with its TIMESTAMP's seqnum, -1 without one
    if (raw.r64(s + A.MSG_SRC_ID) !== 0) {
      let seq = -1;
      for (let p = s + A.MSG_HDR; p < end; p += (raw.r64(p + A.ITEM_SIZE) + 7) & ~7) {
        if (raw.r64(p + A.ITEM_TYPE) === A.ITEM_TIMESTAMP) seq = raw.r64(p + A.ITEM_HDR);
      }
      seqs.push(seq);
    }
    assert.is(raw.free(h.slot, h.gen, m.offset), 0);
  }
  return { seqs, dropped };
}

function bcastMem(raw: Raw, from: H): number {
  raw.e.u8.fill(9, raw.cmd + 8192, raw.cmd + 8192 + 100);
  return raw.send(from.slot, from.gen, { msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [vec(100, raw.cmd + 8192), filter()] });
}
function bcastStaged(raw: Raw, from: H): number {
  return raw.send(from.slot, from.gen, { msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(300), filter()] });
}

for (const [kind, send] of [['in-memory', bcastMem], ['staged', bcastStaged]] as const) {
  t(`${kind}: a receiver whose lock is held gets the broadcast once it is released, once, with the others' seqnum`, async ({ raw, e, bus }) => {
    const other = await another(bus.memory);
    const s = open(raw, { attachSend: A.ATTACH_TIMESTAMP });
    const rx = receivers(raw, 3);
    hold(e, rx[1], other);
    const done = releaseOnWait(e, rx[1]);
    assert.is(send(raw, s), 0);
    assert.ok(done() >= 1, 'the broadcaster waited for the lock');
    assert.is(op(e), A.OP_NONE, 'nothing left pending');
    const got = rx.map((h) => seqnums(raw, h));
    for (const g of got) assert.is(g.seqs.length, 1, 'each receiver has it once');
    for (const g of got) assert.is(g.dropped, 0, 'no loss reported');
    assert.is(new Set(got.map((g) => g.seqs[0])).size, 1, 'one seqnum for every receiver');
    assert.ok(got[0].seqs[0] > 0, 'with a TIMESTAMP');
    assert.equal(checkBus(e), []);
    assert.is(other.threadLeave(), 0);
  });

  t(`${kind}: a receiver held by a thread that is not LIVE is passed over (one loss), the others get it`, async ({ raw, e }) => {
    const s = open(raw);
    const rx = receivers(raw, 3);
    // a holder id whose slot is not LIVE (no thread joined it): the host gives its wait up at once
    const n = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] + 1; // an id past the thread table: not LIVE
    assert.is(Atomics.compareExchange(e.u32, lockWord(e, rx[2]), 0, n), 0);
    assert.is(send(raw, s), 0);
    assert.is(op(e), A.OP_NONE);
    assert.is(lost(e, rx[2]), 1, 'one loss counted');
    release(e, rx[2]);
    const got = rx.map((h) => seqnums(raw, h));
    assert.equal(got.map((g) => g.seqs.length), [1, 1, 0]);
    assert.equal(got.map((g) => g.dropped), [0, 0, 1], 'the skipped receiver is told, the others not');
    // the next broadcast reaches it again
    assert.is(send(raw, s), 0);
    assert.equal(rx.map((h) => seqnums(raw, h).seqs.length), [1, 1, 1]);
    assert.equal(checkBus(e), []);
  });
}

t('a passed-over receiver whose rules would not accept the broadcast is not told of a loss', async ({ raw, e }) => {
  const s = open(raw);
  const [r0] = receivers(raw, 1);
  const no = open(raw); // a bloom mask the (empty) filter lacks: never matches
  assert.is(raw.matchAdd(no.slot, no.gen, 1, { items: [{ type: A.ITEM_BLOOM_MASK, data: new Uint8Array(64).fill(1) }] }), 0);
  const n = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] + 1; // an id past the thread table: not LIVE
  assert.is(Atomics.compareExchange(e.u32, lockWord(e, no), 0, n), 0); // held by a slot that is not LIVE
  assert.is(bcastMem(raw, s), 0);
  release(e, no);
  assert.is(lost(e, no), 0, 'no loss counted');
  assert.equal(seqnums(raw, no), { seqs: [], dropped: 0 });
  assert.is(seqnums(raw, r0).seqs.length, 1);
});

for (const [kind, send] of [['in-memory', bcastMem], ['staged', bcastStaged]] as const) {
  t(`${kind}: a receiver whose lock a LIVE thread keeps and whose rules refuse the broadcast is not waited for; one whose rules accept it is (stop 50)`, async ({ raw, e, bus }) => {
    // (it was waited for whatever its rules: a terminated, unrecovered worker's connection with
    // one unrelated rule cost each broadcast LOCK_WAIT_MS; its entries are read under the bus lock)
    const other = await another(bus.memory);
    const s = open(raw);
    const [r0] = receivers(raw, 1);
    const no = open(raw); // a bloom mask the (empty) filter lacks: never matches
    assert.is(raw.matchAdd(no.slot, no.gen, 1, { items: [{ type: A.ITEM_BLOOM_MASK, data: new Uint8Array(64).fill(1) }] }), 0);
    const yes = open(raw); // accepts it
    assert.is(raw.matchAdd(yes.slot, yes.gen, 1), 0);
    seqnums(raw, r0);
    const engine = e as unknown as { lockWaitMs: number; lockWaits: number; skips: number };
    const was = engine.lockWaitMs;
    engine.lockWaitMs = 40;
    try {
      hold(e, no, other);
      let w0 = engine.lockWaits, s0 = engine.skips;
      assert.is(send(raw, s), 0);
      assert.is(engine.lockWaits - w0, 0, 'no wait for the refusing receiver');
      assert.is(engine.skips - s0, 0, 'nothing given up');
      assert.is(lost(e, no), 0, 'no loss counted');
      // the same with the bus lock kept by the same holder: the rules cannot be read, so it
      // is waited for (on its own lock word), given up, and its loss counted without its rules
      // (as documented); the receiver that accepts it still gets it
      assert.is(Atomics.compareExchange(e.u32, (A.BUS_BASE + A.BUS_LOCK) >>> 2, 0, other.threadSlot + 1), 0);
      const x = e as unknown as { waitLock(left: number): void };
      const orig = x.waitLock;
      const words = new Set<number>(), waitAddr = (e.cmd - A.THREAD_CMD + A.THREAD_WAIT_ADDR) >>> 2;
      x.waitLock = function (this: unknown, left: number) {
        words.add(e.u32[waitAddr]);
        return orig.call(this, left);
      };
      w0 = engine.lockWaits, s0 = engine.skips;
      try {
        assert.is(send(raw, s), 0);
      } finally {
        x.waitLock = orig;
        Atomics.store(e.u32, (A.BUS_BASE + A.BUS_LOCK) >>> 2, 0);
      }
      assert.ok(engine.lockWaits - w0 > 0, 'waited for it');
      assert.is(engine.skips - s0, 1, 'then gave it up');
      assert.equal([...words], [e.connAddr(no.slot) + A.CONN_LOCK], 'on its lock word, not the bus lock\'s');
      assert.is(lost(e, no), 1, 'its loss counted without its rules (the bus lock was kept)');
      release(e, no);
      // a receiver whose rules accept it is waited for, its lock released meanwhile
      hold(e, yes, other);
      const done = releaseOnWait(e, yes);
      assert.is(send(raw, s), 0);
      assert.ok(done() >= 1, 'the broadcaster waited for the accepting receiver');
    } finally {
      engine.lockWaitMs = was;
    }
    assert.equal(seqnums(raw, yes).seqs.length, 3, 'the accepting receiver has all three');
    assert.equal(seqnums(raw, r0).seqs.length, 3);
    assert.equal(seqnums(raw, no), { seqs: [], dropped: 1 });
    assert.equal(checkBus(e), []);
    assert.is(other.threadLeave(), 0);
  });
}

t('a notification that cannot take a receiver\'s lock counts a loss only for a receiver whose rules accept it', async ({ raw, e }) => {
  const all = open(raw); // a match-everything entry: accepts ID_ADD
  assert.is(raw.matchAdd(all.slot, all.gen, 1), 0);
  const sig = open(raw); // signals only: never a notification
  assert.is(raw.matchAdd(sig.slot, sig.gen, 1, { items: [{ type: A.ITEM_BLOOM_MASK, data: new Uint8Array(64) }] }), 0);
  seqnums(raw, all); // the ID_ADD of sig
  const n = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] + 1; // an id past the thread table: not LIVE
  for (const h of [all, sig]) assert.is(Atomics.compareExchange(e.u32, lockWord(e, h), 0, n), 0);
  const late = open(raw); // its ID_ADD meets both locks held
  for (const h of [all, sig]) release(e, h);
  assert.equal([lost(e, all), lost(e, sig)], [1, 0]);
  assert.equal(seqnums(raw, all).dropped, 1);
  assert.equal(seqnums(raw, sig).dropped, 0);
  void late;
});

t('a broadcast stopped at a contended receiver and trapped at every later step: each receiver has it at most once (in-memory) / once after send_commit is run again (staged)', async ({ raw, e, bus }) => {
  const other = await another(bus.memory);
  const s = open(raw, { attachSend: A.ATTACH_TIMESTAMP });
  const rx = receivers(raw, 3);
  let traps = 0;
  for (const staged of [false, true]) {
    for (let n = 1; n < 100; n++) {
      hold(e, rx[1], other);
      const done = releaseOnWait(e, rx[1]);
      let trapped = false;
      if (staged) {
        raw.writeSend({ msg: { dst: ALL, flags: A.MSG_SIGNAL }, items: [hostVec(300), filter()] });
        assert.is(e.send(s.slot, s.gen), A.SEND_PENDING);
        e.setFault(n);
        try { assert.is(e.sendCommit(), 0); } catch { trapped = true; }
        e.setFault(0);
        if (trapped) assert.is(e.sendCommit(), 0, 'run again: it goes on');
      } else {
        e.setFault(n);
        try { assert.is(bcastMem(raw, s), 0); } catch { trapped = true; }
        e.setFault(0);
      }
      done();
      if (Atomics.load(e.u32, lockWord(e, rx[1])) !== 0) release(e, rx[1]); // trapped before its wait
      assert.is(op(e), A.OP_NONE, `step ${n}: nothing left pending`);
      assert.equal(checkBus(e), [], `step ${n}: consistent`);
      const got = rx.map((h) => seqnums(raw, h));
      for (const g of got) {
        assert.is(g.dropped, 0, `step ${n}: no loss`);
        if (staged) assert.is(g.seqs.length, 1, `step ${n}: staged, once`);
        else assert.ok(g.seqs.length <= 1, `step ${n}: at most once`);
      }
      if (staged) assert.is(new Set(got.map((g) => g.seqs[0])).size, 1, `step ${n}: one seqnum`);
      if (!trapped) break;
      traps++;
      assert.ok(n < 99);
    }
  }
  assert.ok(traps >= 6, `trapped at ${traps} steps`);
  assert.is(other.threadLeave(), 0);
});

t('a thread that dies in a broadcast it resumed after a wait is recovered: consistent, op cleared, each receiver has it at most once', async ({ raw, e, bus }) => {
  const rx = receivers(raw, 3);
  const holder = await another(bus.memory);
  let deaths = 0;
  for (let n = 1; n < 100; n++) {
    const b = await another(bus.memory); // the broadcaster
    const rawB = new (raw.constructor as new (e: Engine) => Raw)(b);
    const s = open(rawB);
    hold(e, rx[1], holder); // released from inside b's wait
    const done = releaseOnWait(b, rx[1]);
    b.setFault(n, true); // dies at its n-th logged store (not unwound), as a terminated worker
    let died = false;
    try { assert.is(bcastMem(rawB, s), 0); } catch { died = true; }
    done();
    if (Atomics.load(e.u32, lockWord(e, rx[1])) !== 0 && !died) release(e, rx[1]);
    if (!died) {
      b.setFault(0);
      assert.equal(rx.map((h) => seqnums(raw, h).seqs.length), [1, 1, 1]);
      assert.is(rawB.byebye(s.slot, s.gen), 0);
      assert.is(b.threadLeave(), 0);
      for (const h of rx) seqnums(raw, h); // its ID_REMOVE
      break;
    }
    deaths++;
    // still held by the stand-in (the broadcaster died before its wait): released first
    if ((Atomics.load(e.u32, lockWord(e, rx[1])) & A.LOCK_ID_MASK) === holder.threadSlot + 1) release(e, rx[1]);
    assert.ok(e.recover(b.threadSlot, true) >= 0);
    assert.equal(checkBus(e), [], `death at step ${n}: consistent`);
    for (const h of rx) assert.ok(seqnums(raw, h).seqs.length <= 1, `death at step ${n}: at most once`);
    assert.ok(n < 99);
  }
  assert.ok(deaths >= 3, `died at ${deaths} steps`);
  assert.is(holder.threadLeave(), 0);
});


t('BYEBYE that passes names on, with a subscriber: a trap at any step leaves the bus as before (in the close) or the close complete (in its notifications), never half done', ({ raw, e }) => {
  const sub = open(raw);
  assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0); // every notification
  let inClose = 0, inNotify = 0;
  for (let n = 1; n < 200; n++) {
    const names = [0, 1, 2].map((k) => `org.t${n}.n${k}`);
    const x = open(raw), y = open(raw);
    for (const name of names) {
      assert.is(raw.nameAcquire(x.slot, x.gen, name).r, 0);
      assert.is(raw.nameAcquire(y.slot, y.gen, name, A.NAME_QUEUE).r, 0); // queued: the name passes to y
    }
    seqnums(raw, sub); // the ID_ADDs and NAME_ADDs so far
    const before = stateImage(e);
    e.setFault(n);
    let trapped = false;
    try { assert.is(raw.byebye(x.slot, x.gen), 0); } catch { trapped = true; }
    e.setFault(0);
    assert.equal(checkBus(e), [], `step ${n}: consistent`);
    assert.equal(checkNames(e), [], `step ${n}: registry consistent`);
    const closed = e.connGen(x.slot) !== x.gen;
    if (trapped && !closed) {
      inClose++;
      const d = firstDifference(before, stateImage(e));
      assert.is(d, -1, `step ${n}: a trap in the close restores the bus (first difference at ${d})`);
      assert.is(raw.byebye(x.slot, x.gen), 0, 'closed when run again');
    } else if (trapped) inNotify++;
    // closed, whole: every name is y's now (a message to each name reaches y)
    for (const name of names) {
      assert.is(raw.send(sub.slot, sub.gen, { msg: { dst: 0 }, items: [str(A.ITEM_DST_NAME, name), vec(8, raw.cmd + 8192)] }), 0, `step ${n}: ${name} passed on`);
    }
    assert.is(e.queued(y.slot), 3);
    while (raw.recv(y.slot, y.gen, A.RECV_DROP).r === 0);
    assert.is(raw.byebye(y.slot, y.gen), 0);
    seqnums(raw, sub);
    if (!trapped) break;
    assert.ok(n < 199);
  }
  assert.ok(inClose >= 3 && inNotify >= 1, `traps in the close (${inClose}) and in its notifications (${inNotify})`);
});


/** Notifications queued for `h` (src 0): their item types, and the dropped count reported. */
function notes(raw: Raw, h: H): { kinds: number[]; dropped: number } {
  const kinds: number[] = [];
  let dropped = 0;
  for (;;) {
    const m = raw.recv(h.slot, h.gen);
    dropped += m.dropped;
    if (m.r === -A.EAGAIN) break;
    const s = raw.slice(h.slot, m.offset);
    if (raw.r64(s + A.MSG_SRC_ID) === 0) kinds.push(raw.r64(s + A.MSG_HDR + A.ITEM_TYPE));
    assert.is(raw.free(h.slot, h.gen, m.offset), 0);
  }
  return { kinds, dropped };
}

t('BYEBYE: a subscriber whose lock is held gets the close\'s NAME_REMOVE and ID_REMOVE once it is released, in order, none lost', async ({ raw, e, bus }) => {
  const other = await another(bus.memory);
  const sub = open(raw);
  assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0);
  const x = open(raw);
  assert.is(raw.nameAcquire(x.slot, x.gen, 'org.lossless.X').r, 0);
  notes(raw, sub);
  hold(e, sub, other);
  const done = releaseOnWait(e, sub);
  assert.is(raw.byebye(x.slot, x.gen), 0);
  assert.ok(done() >= 1, 'the close waited for the lock');
  assert.is(op(e), A.OP_NONE);
  assert.is(Atomics.load(e.u32, (A.BUS_BASE + A.BUS_LOCK) >>> 2), 0, 'the bus lock released');
  assert.equal(notes(raw, sub), { kinds: [A.ITEM_NAME_REMOVE, A.ITEM_ID_REMOVE], dropped: 0 });
  assert.equal(checkBus(e), []);
  assert.is(other.threadLeave(), 0);
});

t('BYEBYE: a subscriber held by a thread that is not LIVE is passed over (each notification one loss), the others get them', ({ raw, e }) => {
  const subs = [open(raw), open(raw)];
  for (const h of subs) assert.is(raw.matchAdd(h.slot, h.gen, 1), 0);
  const x = open(raw);
  assert.is(raw.nameAcquire(x.slot, x.gen, 'org.lossless.Y').r, 0);
  for (const h of subs) notes(raw, h);
  const n = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] + 1; // an id past the thread table: not LIVE
  assert.is(Atomics.compareExchange(e.u32, lockWord(e, subs[0]), 0, n), 0);
  assert.is(raw.byebye(x.slot, x.gen), 0);
  release(e, subs[0]);
  assert.is(op(e), A.OP_NONE);
  assert.equal(notes(raw, subs[0]), { kinds: [], dropped: 2 });
  assert.equal(notes(raw, subs[1]), { kinds: [A.ITEM_NAME_REMOVE, A.ITEM_ID_REMOVE], dropped: 0 });
  assert.equal(checkBus(e), []);
});

// HELLO, NAME_ACQUIRE and NAME_RELEASE commit their change whole, then send its notifications
// like BYEBYE (OP_NOTIFY: waiting for a contended receiver with the bus lock held).
type Step = { what: string; kinds: number[]; setup(raw: Raw): () => number; undone(raw: Raw, e: Engine): boolean };
const steps: Step[] = [
  { what: 'HELLO', kinds: [A.ITEM_ID_ADD], setup: (raw) => () => {
      const h = raw.hello({ attachSend: 0, attachRecv: 0 });
      if (h.r >= 0) { assert.is(raw.free(h.slot, h.gen, h.offset), 0); made.push(h); }
      return h.r >= 0 ? 0 : h.r;
    }, undone: () => false },
  { what: 'HELLO of an activator', kinds: [A.ITEM_ID_ADD, A.ITEM_NAME_ADD], setup: () => {
      const name = `org.lossless.act${nextName++}`;
      return () => {
        const h = hostRaw!.hello({ flags: A.HELLO_ACTIVATOR, items: [str(A.ITEM_NAME, name)] });
        if (h.r >= 0) { assert.is(hostRaw!.free(h.slot, h.gen, h.offset), 0); made.push(h); }
        return h.r >= 0 ? 0 : h.r;
      };
    }, undone: () => false },
  { what: 'NAME_ACQUIRE of a free name', kinds: [A.ITEM_NAME_ADD], setup: (raw) => {
      const x = open(raw), name = `org.lossless.n${nextName++}`;
      made.push(x);
      return () => raw.nameAcquire(x.slot, x.gen, name).r;
    }, undone: () => false },
  { what: 'NAME_ACQUIRE that replaces the owner', kinds: [A.ITEM_NAME_CHANGE], setup: (raw) => {
      const x = open(raw), y = open(raw), name = `org.lossless.n${nextName++}`;
      made.push(x, y);
      assert.is(raw.nameAcquire(x.slot, x.gen, name, A.NAME_ALLOW_REPLACEMENT).r, 0);
      return () => raw.nameAcquire(y.slot, y.gen, name, A.NAME_REPLACE_EXISTING).r;
    }, undone: () => false },
  { what: 'NAME_RELEASE to the next in the queue', kinds: [A.ITEM_NAME_CHANGE], setup: (raw) => {
      const x = open(raw), y = open(raw), name = `org.lossless.n${nextName++}`;
      made.push(x, y);
      assert.is(raw.nameAcquire(x.slot, x.gen, name).r, 0);
      assert.is(raw.nameAcquire(y.slot, y.gen, name, A.NAME_QUEUE).r, 0);
      return () => raw.nameRelease(x.slot, x.gen, name);
    }, undone: () => false },
  { what: 'NAME_RELEASE of the last owner', kinds: [A.ITEM_NAME_REMOVE], setup: (raw) => {
      const x = open(raw), name = `org.lossless.n${nextName++}`;
      made.push(x);
      assert.is(raw.nameAcquire(x.slot, x.gen, name).r, 0);
      return () => raw.nameRelease(x.slot, x.gen, name);
    }, undone: () => false },
];
let nextName = 0;
let hostRaw: Raw | undefined;
const made: H[] = [];
/** Close every connection but the subscribers `subs` (what a step opened, a HELLO that trapped in its notifications too), their notifications drained. */
function closeMade(raw: Raw, subs: H[]): void {
  made.length = 0;
  const e = raw.e, n = e.u32[(A.BUS_BASE + A.BUS_N_CONNS) >>> 2];
  for (let slot = 0; slot < n; slot++) {
    if (subs.some((h) => h.slot === slot) || e.u32[(e.connAddr(slot) + A.CONN_STATE) >>> 2] !== A.CONN_ACTIVE) continue;
    assert.is(raw.byebye(slot, e.connGen(slot)), 0);
  }
  for (const h of subs) notes(raw, h);
}

for (const step of steps) {
  t(`${step.what}: a subscriber whose lock is held gets its notifications once it is released, in order, none lost`, async ({ raw, e, bus }) => {
    hostRaw = raw;
    const other = await another(bus.memory);
    const sub = open(raw);
    assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0);
    const run = step.setup(raw);
    notes(raw, sub);
    hold(e, sub, other);
    const done = releaseOnWait(e, sub);
    assert.is(run(), 0);
    assert.ok(done() >= 1, 'the command waited for the lock');
    assert.is(op(e), A.OP_NONE, 'nothing left pending');
    assert.is(Atomics.load(e.u32, (A.BUS_BASE + A.BUS_LOCK) >>> 2), 0, 'the bus lock released');
    assert.equal(notes(raw, sub), { kinds: step.kinds, dropped: 0 });
    assert.equal(checkBus(e), []);
    closeMade(raw, [sub]);
    assert.is(other.threadLeave(), 0);
  });

  t(`${step.what}: a subscriber held by a thread that is not LIVE is passed over (one loss each), the others get them`, ({ raw, e }) => {
    hostRaw = raw;
    const subs = [open(raw), open(raw)];
    for (const h of subs) assert.is(raw.matchAdd(h.slot, h.gen, 1), 0);
    const run = step.setup(raw);
    for (const h of subs) notes(raw, h);
    const n = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] + 1; // an id past the thread table: not LIVE
    assert.is(Atomics.compareExchange(e.u32, lockWord(e, subs[0]), 0, n), 0);
    assert.is(run(), 0);
    release(e, subs[0]);
    assert.is(op(e), A.OP_NONE);
    assert.equal(notes(raw, subs[0]), { kinds: [], dropped: step.kinds.length });
    assert.equal(notes(raw, subs[1]), { kinds: step.kinds, dropped: 0 });
    assert.equal(checkBus(e), []);
    closeMade(raw, subs);
  });
}

t('HELLO, NAME_ACQUIRE, NAME_RELEASE with a held subscriber, trapped at every step: the bus as before (in the change) or the change complete and its notifications sent at most once (in their delivery)', async ({ raw, e, bus }) => {
  hostRaw = raw;
  const other = await another(bus.memory);
  const sub = open(raw);
  assert.is(raw.matchAdd(sub.slot, sub.gen, 1), 0);
  for (const step of steps) {
    let inChange = 0, inNotify = 0;
    for (let n = 1; n < 200; n++) {
      const run = step.setup(raw);
      notes(raw, sub);
      const before = stateImage(e);
      hold(e, sub, other);
      const done = releaseOnWait(e, sub);
      e.setFault(n);
      let trapped = false;
      try { assert.is(run(), 0); } catch { trapped = true; }
      e.setFault(0);
      done();
      if (Atomics.load(e.u32, lockWord(e, sub)) !== 0) release(e, sub); // trapped before its wait
      assert.is(op(e), A.OP_NONE, `${step.what}, step ${n}: nothing left pending`);
      assert.equal(checkBus(e), [], `${step.what}, step ${n}: consistent`);
      assert.equal(checkNames(e), [], `${step.what}, step ${n}: registry consistent`);
      const got = notes(raw, sub);
      assert.is(got.dropped, 0, `${step.what}, step ${n}: no loss counted`);
      if (trapped && firstDifference(before, stateImage(e)) === -1) {
        inChange++;
        assert.equal(got.kinds, [], `${step.what}, step ${n}: undone, nothing sent`);
      } else if (trapped) {
        inNotify++;
        // complete: the notifications sent before the trap, in order, each at most once
        assert.equal(got.kinds, step.kinds.slice(0, got.kinds.length), `${step.what}, step ${n}: a prefix of them`);
      } else assert.equal(got.kinds, step.kinds, `${step.what}, step ${n}: all of them`);
      closeMade(raw, [sub]);
      if (!trapped) break;
      assert.ok(n < 199);
    }
    assert.ok(inChange >= 1 && inNotify >= 1, `${step.what}: traps in the change (${inChange}) and in its notifications (${inNotify})`);
  }
  assert.is(other.threadLeave(), 0);
});

for (const notLive of [false, true]) {
  t(`recovery: a subscriber whose lock is held ${notLive ? 'by a thread that is not LIVE loses the close\'s NAME_REMOVE and ID_REMOVE (one loss each)' : 'gets the close\'s NAME_REMOVE and ID_REMOVE once it is released'}, the other subscriber gets them`, async ({ raw, e, bus }) => {
    const other = await another(bus.memory);
    const subs = [open(raw), open(raw)];
    for (const h of subs) assert.is(raw.matchAdd(h.slot, h.gen, 1), 0);
    const b = await another(bus.memory); // the thread that dies
    const rawB = new (raw.constructor as new (e: Engine) => Raw)(b);
    const x = open(rawB);
    assert.is(rawB.nameAcquire(x.slot, x.gen, 'org.lossless.R').r, 0);
    for (const h of subs) notes(raw, h);
    let done = () => 0;
    if (notLive) {
      const n = e.u32[(A.BUS_BASE + A.BUS_N_THREADS) >>> 2] + 1; // an id past the thread table: not LIVE
      assert.is(Atomics.compareExchange(e.u32, lockWord(e, subs[0]), 0, n), 0);
    } else {
      hold(e, subs[0], other);
      done = releaseOnWait(e, subs[0]);
    }
    assert.ok(e.recover(b.threadSlot, true) >= 0);
    if (notLive) release(e, subs[0]);
    else assert.ok(done() >= 1, 'the recovery waited for the lock');
    assert.is(op(e), A.OP_NONE);
    assert.is(Atomics.load(e.u32, (A.BUS_BASE + A.BUS_LOCK) >>> 2), 0, 'the bus lock released');
    assert.is(e.connGen(x.slot) !== x.gen, true, 'closed');
    const both = [A.ITEM_NAME_REMOVE, A.ITEM_ID_REMOVE];
    assert.equal(notes(raw, subs[0]), notLive ? { kinds: [], dropped: 2 } : { kinds: both, dropped: 0 });
    assert.equal(notes(raw, subs[1]), { kinds: both, dropped: 0 });
    assert.equal(checkBus(e), []);
    assert.is(other.threadLeave(), 0);
  });
}

t.run();
