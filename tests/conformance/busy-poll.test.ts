// Busy polling (a connection's busyPoll, SO_BUSY_POLL's idea): every receive wait spins
// first, whatever the adaptive score; bad values are refused with EINVAL and change nothing.
import * as assert from 'uvu/assert';
import { BusError, POLL_MISSES } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('busy polling');

const einval = (rule: RegExp) => (e: unknown) => e instanceof BusError && e.code === 'EINVAL' && rule.test(e.message);

t('connect({ busyPoll }) and conn.busyPoll: whole microseconds 0 to 100, anything else EINVAL with nothing changed', ({ bus }) => {
  const a = bus.connect({ busyPoll: 50 });
  assert.is(a.busyPoll, 50);
  const b = bus.connect();
  assert.is(b.busyPoll, 0, 'off by default: the adaptive spin');
  b.busyPoll = 100;
  assert.is(b.busyPoll, 100);
  b.busyPoll = 0;
  assert.is(b.busyPoll, 0);
  const n = bus.connections.length;
  for (const bad of [-1, 101, 1.5, NaN, Infinity, '50', null, 50n]) {
    assert.throws(() => bus.connect({ busyPoll: bad as number }), einval(/^connect: EINVAL: busyPoll must be a whole number of microseconds from 0 .* to 100/), `connect({ busyPoll: ${String(bad)} })`);
    assert.throws(() => { a.busyPoll = bad as number; }, einval(/^busyPoll: EINVAL: busyPoll must be a whole number/), `busyPoll = ${String(bad)}`);
  }
  assert.is(bus.connections.length, n, 'no connection made by a refused connect()');
  assert.is(a.busyPoll, 50, 'a refused value leaves the old one');
  // (an outside audit, stop 27) -0 reads back as 0; a getter is read once; the spinner's own
  // setter checks too, and its pollMs cannot be written around it
  a.busyPoll = -0;
  assert.ok(Object.is(a.busyPoll, 0));
  let reads = 0;
  const c = bus.connect({ get busyPoll() { reads++; return reads === 1 ? 30 : 500; } });
  assert.is(reads, 1);
  assert.is(c.busyPoll, 30);
  assert.throws(() => c.spinner.setPoll(5000), RangeError);
  assert.throws(() => { (c.spinner as unknown as { pollMs: number }).pollMs = 5; }, TypeError);
  assert.is(c.busyPoll, 30);
});

t('a busy-polling connection spins before every park, even with the score at 0; the adaptive one does not', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), c = bus.connect({ busyPoll: 20 });
  for (const [rx, polls] of [[b, false], [c, true]] as const) {
    const sp = rx.spinner;
    // slow answers (4 ms each): every spin misses, and the score falls to 0
    for (let i = 0; i < 6; i++) {
      setTimeout(() => a.sendText(rx.id, 'slow'), 4);
      (await rx.recvAsync({ timeout: 2000 })).free();
    }
    assert.is(sp.score, 0);
    const s0 = sp.spins;
    for (let i = 0; i < 5; i++) {
      setTimeout(() => a.sendText(rx.id, 'slow'), 4);
      (await rx.recvAsync({ timeout: 2000 })).free();
    }
    // (a probe comes 32 waits after the score fell: none within these five)
    assert.is(sp.spins - s0, polls ? 5 : 0, polls ? 'one spin per wait' : 'no spin while answers are slow');
    // recvWait too; recvWait(0) still never spins
    const s1 = sp.spins;
    assert.is(rx.recvWait(0), null);
    assert.is(sp.spins, s1, 'recvWait(0) returned without spinning');
    // (20 ms, not 1: a thread descheduled for a millisecond between the wait's first look and
    // its clock check found its time up and returned without a spin; a CI run beside a loaded
    // audit, stop 60, under Deno)
    assert.is(rx.recvWait(20), null);
    assert.is(sp.spins - s1, polls ? 1 : 0);
  }
  // a listener's waits too (a fresh connection: fewer than POLL_MISSES misses in a row, below)
  const d = bus.connect({ busyPoll: 20 });
  const sp = d.spinner, s2 = sp.spins;
  let got = 0;
  const l = d.listen(() => { got++; });
  for (let i = 0; i < 3; i++) { await new Promise((r) => setTimeout(r, 4)); a.sendText(d.id, 'x'); }
  await new Promise((r) => setTimeout(r, 4));
  l.stop();
  await l.done;
  assert.is(got, 3);
  assert.ok(sp.spins - s2 >= 3, `a spin before each of the listener's parks: ${sp.spins - s2}`);
});

t('busy polling rests after POLL_MISSES spins in a row that caught nothing, for POLL_REST waits; setting busyPoll again starts afresh', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ busyPoll: 10 });
  const sp = b.spinner;
  // (recvWait(5): a spin of 10 µs that catches nothing, then a sleep for the rest; no peer.
  // A spin given less than its 10 µs (the thread descheduled between the deadline's clock read
  // and the spin: CI once saw it with recvWait(0.2)) is cut short by the caller's deadline and,
  // by design, counts no miss; so a few extra waits are allowed, never fewer than POLL_MISSES.)
  let waits = 0;
  while (sp.pollRests === 0 && waits < POLL_MISSES + 4) {
    assert.is(b.recvWait(5), null);
    waits++;
  }
  assert.is(sp.pollRests, 1, 'rests after its 16th miss in a row');
  assert.ok(waits >= POLL_MISSES, `not before ${POLL_MISSES} misses: rested after ${waits} waits`);
  const s0 = sp.spins;
  for (let i = 0; i < 8; i++) assert.is(b.recvWait(0.2), null);
  assert.is(sp.spins, s0, 'resting: the adaptive rules decide (the score is 0: no spin)');
  b.busyPoll = 10;
  assert.is(b.recvWait(0.2), null);
  assert.is(sp.spins, s0 + 1, 'set again: it spins at once');
  // a spin that catches its word resets the count of misses: 10 misses, a hit, 15 misses: no rest
  const c = bus.connect({ busyPoll: 10 });
  const word = new Int32Array(new SharedArrayBuffer(4));
  bus.connect().spinner.spin(word, 0, 1, 1); // (warm: the first call with a new array type can deoptimize mid-spin)
  for (let i = 0; i < 10; i++) assert.is(c.recvWait(0.2), null);
  let hit = false;
  for (let tries = 0; tries < 5 && !hit; tries++) {
    // (a loaded machine can deschedule the spin between its clock reads: no hit, a miss; again)
    const pre = c.spinner.preempted;
    c.spinner.shouldSpin();
    hit = c.spinner.spin(word, 0, 1, 1) && c.spinner.preempted === pre;
  }
  assert.ok(hit, 'a spin that caught its word, not descheduled');
  assert.is(c.spinner.pollRests, 0);
  for (let i = 0; i < POLL_MISSES - 1; i++) assert.is(c.recvWait(0.2), null);
  assert.is(c.spinner.pollRests, 0, 'the hit reset the count: 15 misses after it, no rest');
});

t('turned off again, the adaptive score decides once more', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect({ busyPoll: 10 });
  for (let i = 0; i < 4; i++) {
    setTimeout(() => a.sendText(b.id, 'slow'), 4);
    (await b.recvAsync({ timeout: 2000 })).free();
  }
  b.busyPoll = 0;
  assert.is(b.spinner.score, 0, 'its spins missed: the score fell');
  const s0 = b.spinner.spins;
  setTimeout(() => a.sendText(b.id, 'slow'), 4);
  (await b.recvAsync({ timeout: 2000 })).free();
  assert.is(b.spinner.spins, s0, 'no spin');
});

t.run();
