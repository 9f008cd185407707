// The public API: Bus, Connection, Message, BusError, over the selected engine.
import * as assert from 'uvu/assert';
import { BusError, Message, ATTACH, abi as A, ABI_FINGERPRINT, MockProvider, type AttachName, type Creds } from '../../js/index.ts';
import { busSuite } from '../helpers/harness.ts';

const t = busSuite('public API');

function throwsCode(fn: () => unknown, code: string, msg?: string) {
  try {
    fn();
  } catch (err) {
    assert.instance(err, BusError, msg);
    assert.is((err as BusError).code, code, msg);
    assert.is((err as BusError).errno, (A as Record<string, number>)[code], msg);
    assert.ok((err as BusError).message.includes(code), 'the message names the code');
    return;
  }
  assert.unreachable(`expected ${code}${msg ? ': ' + msg : ''}`);
}

t('connect, send bytes / text / JSON, receive zero-copy views, free', ({ bus }) => {
  const a = bus.connect({ description: 'alice' });
  const b = bus.connect();
  assert.is(a.id, 1);
  assert.is(b.uniqueName, ':1.2');
  assert.is(a.poolUsed, 0, 'the HELLO slice was freed');
  const c1 = a.send(b.id, new Uint8Array([1, 2, 3]));
  const c2 = a.sendText(b.uniqueName, 'héllo');
  const c3 = a.sendJSON(b.id, { n: [1, 2] }, { priority: 4 });
  a.send(b.id, new Uint16Array([0x0102, 0x0304]));
  a.send(b.id);
  assert.equal([c1, c2, c3], [1, 2, 3], 'cookies count from 1');
  assert.is(b.queued, 5);
  const m1 = b.recv()!;
  assert.instance(m1, Message);
  assert.is(m1.src, a.id);
  assert.is(m1.dst, b.id);
  assert.is(m1.cookie, 1);
  assert.equal([...m1.payload], [1, 2, 3]);
  assert.ok(m1.payload.buffer === bus.memory.buffer, 'a view of the shared memory, not a copy');
  m1.free();
  const m2 = b.recv()!;
  assert.is(m2.text(), 'héllo');
  m2.free();
  const m3 = b.recv()!;
  assert.equal(m3.json(), { n: [1, 2] });
  assert.is(m3.priority, 4);
  m3.free();
  const m4 = b.recv()!;
  assert.equal([...m4.payload], [2, 1, 4, 3]);
  m4.free();
  const m5 = b.recv()!;
  assert.is(m5.payload.length, 0);
  m5.free();
  assert.is(b.recv(), null);
  assert.is(b.poolUsed, 0);
  a.close();
  b.close();
});

t('a message is unusable after free(); double free throws ENXIO', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.sendText(b.id, 'x');
  const m = b.recv()!;
  m.free();
  throwsCode(() => m.payload, 'ENXIO');
  throwsCode(() => m.text(), 'ENXIO');
  throwsCode(() => m.src, 'ENXIO');
  throwsCode(() => m.free(), 'ENXIO');
  a.close(); b.close();
});

t('errors carry errno, code and message; bad input leaves the bus as it was', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  throwsCode(() => a.send(999, new Uint8Array(1)), 'ENXIO');
  throwsCode(() => a.send(0, new Uint8Array(1)), 'EDESTADDRREQ');
  throwsCode(() => a.send('org.example.Nobody', new Uint8Array(1)), 'ESRCH');
  throwsCode(() => a.send('not a name', new Uint8Array(1)), 'EINVAL');
  throwsCode(() => a.send(b.id, new Uint8Array(A.MAX_PAYLOAD + 1)), 'EMSGSIZE');
  throwsCode(() => a.send(b.id, null, { cookie: -1 }), 'EINVAL');
  throwsCode(() => a.send(b.id, null, { cookie: 2 ** 53 }), 'EINVAL');
  throwsCode(() => a.send(b.id, null, { priority: 0.5 }), 'EINVAL');
  throwsCode(() => a.send(b.id, null, { payloadType: 0n }), 'EINVAL');
  throwsCode(() => a.send(-1, null), 'EINVAL');
  throwsCode(() => bus.connect({ description: 'bad name' }), 'EINVAL');
  throwsCode(() => bus.connect({ description: 'x'.repeat(64) }), 'ENAMETOOLONG');
  throwsCode(() => bus.connect({ poolSize: 1000 }), 'EINVAL');
  throwsCode(() => bus.connect({ attachRecv: ['nope' as 'creds'] }), 'EINVAL');
  throwsCode(() => bus.connect({ flags: A.HELLO_POLICY_HOLDER }), 'EOPNOTSUPP');
  assert.is(b.queued, 0);
  assert.is(b.poolUsed, 0);
  a.sendText(b.id, 'still works');
  const m = b.recv()!;
  assert.is(m.text(), 'still works');
  m.free();
  a.close(); b.close();
});

t('close(): EBUSY with queued messages; then ECONNRESET on every use', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.send(b.id, new Uint8Array(4));
  throwsCode(() => b.close(), 'EBUSY');
  assert.ok(b.drop());
  assert.not.ok(b.drop());
  b.close();
  assert.ok(b.closed);
  throwsCode(() => b.close(), 'ECONNRESET');
  throwsCode(() => b.recv(), 'ECONNRESET');
  throwsCode(() => b.send(a.id, null), 'ECONNRESET');
  throwsCode(() => a.send(b.id, null), 'ENXIO');
  a.close();
});

t('close({ drop: true }): closes with messages queued (unicasts, a broadcast, a call: its caller gets EPIPE), a held message is abandoned; bad options are EINVAL, nothing changed', async ({ bus }) => {
  // (an outside audit, stop 17: a close() raced every signal that arrived between a drain and
  // BYEBYE, and had no way to force it)
  const a = bus.connect(), b = bus.connect(), c = bus.connect();
  b.addMatch("type='signal',interface='org.ex.I'");
  a.send(b.id, new Uint8Array(4));
  const held = (a.send(b.id, new Uint8Array([7])), b.recv()!); // received, not freed
  a.send(b.id, new Uint8Array(40));
  a.signal('/a', 'org.ex.I', 'M');
  const call = c.call(b.id, new Uint8Array([1]), { timeout: 20000 }).then(() => 'resolved', (e: BusError) => e.code);
  await new Promise((r) => setTimeout(r, 1));
  assert.is(b.queued, 4, 'two unicasts, the signal and the call');
  throwsCode(() => b.close({ drop: 1 as never }), 'EINVAL', 'drop must be a boolean');
  throwsCode(() => b.close({ dorp: true } as never), 'EINVAL', 'an unknown option');
  throwsCode(() => b.close({ drop: false }), 'EBUSY', 'drop: false is close()');
  assert.not.ok(b.closed, 'nothing changed');
  assert.is(b.queued, 4);
  b.close({ drop: true });
  assert.ok(b.closed);
  throwsCode(() => held.payload, 'ECONNRESET', 'the held message is abandoned with the pool');
  assert.is(await call, 'EPIPE', 'the call queued to it ends (REPLY_DEAD)');
  throwsCode(() => a.send(b.id, null), 'ENXIO');
  throwsCode(() => b.close({ drop: true }), 'ECONNRESET', 'a second close');
  throwsCode(() => b.close({ dorp: true } as never), 'EINVAL', 'a closed connection checks its options first');
  a.close(); c.close();
});

t('peek and priority through the API', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.sendText(b.id, 'low', { priority: 10 });
  a.sendText(b.id, 'high', { priority: -10 });
  const p = b.recv({ peek: true })!;
  assert.is(p.text(), 'low');
  p.free();
  assert.is(b.queued, 2);
  const h = b.recv({ priority: 0 })!;
  assert.is(h.text(), 'high');
  h.free();
  assert.is(b.recv({ priority: 0 }), null);
  const l = b.recv()!;
  assert.is(l.text(), 'low');
  l.free();
  a.close(); b.close();
});

t('metadata: attached only when the send mask and the receive mask both allow it', ({ bus, mock }) => {
  mock.setCreds({ uid: 1234, gid: 99 });
  const quiet = bus.connect({ attachSend: [] });
  const open = bus.connect({ attachSend: 'all' });
  const wantsAll = bus.connect({ attachRecv: 'all' });
  const wantsTs = bus.connect({ attachRecv: ['timestamp'] });
  quiet.send(wantsAll.id, null);
  open.send(wantsAll.id, null);
  open.send(wantsTs.id, null);
  const m1 = wantsAll.recv()!;
  assert.is(m1.timestamp, null);
  assert.is(m1.creds, null);
  m1.free();
  const m2 = wantsAll.recv()!;
  assert.equal(m2.itemTypes, [A.ITEM_TIMESTAMP, A.ITEM_CREDS]);
  assert.is(m2.creds!.uid, 1234);
  assert.is(m2.creds!.gid, 99);
  const ts = m2.timestamp!;
  assert.ok(ts.seqnum >= 1);
  assert.ok(ts.monotonicNs > 0n && ts.realtimeNs > ts.monotonicNs);
  m2.free();
  const m3 = wantsTs.recv()!;
  assert.equal(m3.itemTypes, [A.ITEM_TIMESTAMP]);
  assert.ok(m3.timestamp!.seqnum > ts.seqnum, 'the per-bus sequence number grows');
  m3.free();
  for (const c of [quiet, open, wantsAll, wantsTs]) c.close();
});

t('attach specs: the names are distinct single bits, and all = every name', ({ bus, e }) => {
  const names = (Object.keys(ATTACH) as AttachName[]).filter((n) => n !== 'all');
  let every = 0;
  for (const n of names) {
    const bit = ATTACH[n];
    assert.ok(bit > 0 && (bit & (bit - 1)) === 0, `${n} is one bit`);
    assert.is(every & bit, 0, `${n} is not another name's bit`);
    every |= bit;
  }
  assert.is(ATTACH.all, every, "'all' is exactly the named flags");
  // the three forms of "all" give the same HELLO attach masks; one bit more is refused by HELLO
  const attachRecv = (c: { slot: number }) => e.u32[(e.connAddr(c.slot) + A.CONN_ATTACH_RECV) >>> 2];
  const forms = [bus.connect({ attachRecv: 'all' }), bus.connect({ attachRecv: ATTACH.all }), bus.connect({ attachRecv: names })];
  assert.equal(forms.map(attachRecv), [every, every, every]);
  throwsCode(() => bus.connect({ attachRecv: ATTACH.all * 2 + 1 }), 'EINVAL', 'a bit outside ATTACH.all');
  for (const c of forms) c.close();
});

t('live credentials: a sender that changes identity is seen with the new one', ({ bus, mock }) => {
  const a = bus.connect();
  const b = bus.connect({ attachRecv: ['creds'] });
  mock.setCreds({ uid: 7 });
  a.send(b.id, null);
  mock.setCreds({ uid: 8 });
  a.send(b.id, null);
  const m1 = b.recv()!, m2 = b.recv()!;
  assert.is(m1.creds!.uid, 7);
  assert.is(m2.creds!.uid, 8);
  m1.free(); m2.free();
  a.close(); b.close();
});

t('MockProvider: default credentials, deterministic random per seed, clocks that advance', () => {
  const c = {} as Creds;
  assert.ok(new MockProvider().creds(c));
  assert.equal(c, { uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, gid: 1000, egid: 1000, sgid: 1000, fsgid: 1000 });
  assert.ok(new MockProvider({ creds: { uid: 5 } }).creds(c));
  assert.is(c.uid, 5);
  assert.is(c.gid, 1000, 'fields not given keep their default');
  const bytes = (seed: number) => { const b = new Uint8Array(32); new MockProvider({ seed }).random(b); return [...b]; };
  assert.equal(bytes(7), bytes(7), 'the same seed, the same bytes');
  assert.not.equal(bytes(7), bytes(8), 'another seed, other bytes');
  assert.ok(bytes(7).some((x) => x !== 0));
  const p = new MockProvider({ step: 500 }), t1 = new Uint32Array(2), t2 = new Uint32Array(2);
  assert.ok(p.clock(1, t1) && p.clock(1, t2));
  assert.is(t2[0] - t1[0], 500, 'MONOTONIC advances by the step per read');
  assert.not.ok(p.clock(2, t1), 'no clock 2');
});

t('MockProvider identity options: each checked, EINVAL naming the option and the method, the identity unchanged', () => {
  // (an outside audit, stop 39: TypeError, RangeError, ignored or coerced values, pids and groups unchecked)
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['cmdline a string', { cmdline: 'abc' }, /cmdline must be an array of strings/],
    ['cmdline a number inside', { cmdline: ['a', 5] }, /cmdline\[1\] must be a string/],
    ['caps {}', { caps: {} }, /caps\.lastCap must be an integer in 0 … 2047/],
    ['caps lastCap -1', { caps: { lastCap: -1 } }, /caps\.lastCap must be/],
    ['caps an unknown key', { caps: { lastCap: 3, efective: [1] } }, /unknown option "caps\.efective"/],
    ['caps a word -1', { caps: { lastCap: 3, effective: [-1] } }, /caps\.effective\[0\] must be/],
    ['comm 5', { comm: 5 }, /comm must be an object like/],
    ['comm an unknown key', { comm: { thred: 'x' } }, /unknown option "comm\.thred"/],
    ['comm with a NUL', { comm: 'a\0b' }, /comm must not contain a NUL/],
    ['audit -1', { audit: { loginuid: -1, sessionid: 1 } }, /audit\.loginuid must be an integer/],
    ['creds null', { creds: null }, /creds must be an object like/],
    ['pids tid -1', { pids: { pid: 1, tid: -1, ppid: 1 } }, /pids\.tid must be a non-negative safe integer/],
    ['pids missing ppid', { pids: { pid: 1, tid: 1 } }, /pids\.ppid must be/],
    ['groups -1', { groups: [1, -1] }, /groups\[1\] must be an integer/],
    ['groups a string', { groups: '1' }, /groups must be an array/],
  ];
  for (const [name, opts, rule] of bad) {
    for (const op of ['MockProvider', 'setIdentity'] as const) {
      const p = new MockProvider({ comm: 'keep' });
      try {
        if (op === 'MockProvider') new MockProvider(opts as never);
        else p.setIdentity(opts as never);
        assert.unreachable(`${name} (${op}): accepted`);
      } catch (err) {
        assert.instance(err, BusError, `${name} (${op})`);
        assert.is((err as BusError).code, 'EINVAL', name);
        assert.ok((err as BusError).message.startsWith(`${op}: EINVAL: `), (err as BusError).message);
        assert.match((err as BusError).message, rule, name);
      }
      assert.equal(p.comm(true), new TextEncoder().encode('keep'), `${name}: the identity as it was`);
    }
  }
  const ok = new MockProvider({ pids: { pid: 10, tid: 11, ppid: 1 }, groups: [1, 2], comm: { thread: 't', process: 'p' }, cmdline: ['a', 'b'],
    caps: { lastCap: 40, effective: [5, 1] }, audit: { loginuid: 4294967295, sessionid: 3 } });
  const pids = { pid: 0, tid: 0, ppid: 0 };
  assert.ok(ok.pids(pids));
  assert.equal(pids, { pid: 10, tid: 11, ppid: 1 });
  assert.equal(ok.groups(), [1, 2]);
  assert.equal([...ok.cmdline()!], [...new TextEncoder().encode('a\0b\0')]);
  assert.equal([...ok.caps()!.effective], [5, 1]);
});

t('payload forms: views and ArrayBuffers are sent; anything else is EINVAL, nothing sent', ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  a.send(b.id, new Uint8Array([1, 2]).buffer);
  a.send(b.id, new DataView(new Uint8Array([3, 4, 5]).buffer, 1, 2));
  throwsCode(() => a.send(b.id, 'text' as unknown as Uint8Array), 'EINVAL');
  throwsCode(() => a.send(b.id, [1, 2] as unknown as Uint8Array), 'EINVAL');
  throwsCode(() => a.sendJSON(b.id, undefined), 'EINVAL');
  throwsCode(() => a.send(':1.99999999999999999999', null), 'EINVAL');
  throwsCode(() => a.send(b.id, null, { payloadType: -1n }), 'EINVAL');
  assert.is(b.queued, 2);
  const m1 = b.recv()!, m2 = b.recv()!;
  assert.equal([...m1.payload], [1, 2]);
  assert.equal([...m2.payload], [4, 5]);
  m1.free(); m2.free();
  a.close(); b.close();
  assert.is(b.queued, 0, 'counters of a closed connection read 0');
  assert.is(b.poolUsed, 0);
});

t('a payload already in the bus memory (a message sent on, part of one, the user region) is sent exactly, copied by the core', ({ bus }) => {
  const a = bus.connect(), b = bus.connect(), c = bus.connect();
  const mem = bus.memory.buffer;
  // (the core's copy, Engine.copyIn, counted: the sends above SEND_INLINE_MAX go through it)
  const e = bus.engine, copyIn = e.copyIn;
  let copies = 0;
  e.copyIn = (dst: number, src: number, n: number) => { copies++; return copyIn.call(e, dst, src, n); };
  /** c's next message: its payload and the padding after it (zeroed), checked against `want` */
  const expect = (want: Uint8Array, what: string) => {
    const m = c.recv()!;
    assert.ok(m, what);
    assert.equal(m.payload, want, what);
    const end = m.payload.byteOffset + m.payload.length;
    assert.equal([...new Uint8Array(mem, end, (8 - (end % 8)) % 8)].every((x) => x === 0), true, `${what}: padding zeroed`);
    m.free();
  };
  let seed = 7;
  // around SEND_INLINE_MAX: below it the payload goes through the command area, above it into a reservation
  for (const size of [A.SEND_INLINE_MAX - 1, A.SEND_INLINE_MAX, A.SEND_INLINE_MAX + 1, 4099, 40000]) {
    const data = new Uint8Array(size).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    a.send(b.id, data);
    const m = b.recv()!;
    assert.ok(m.payload.buffer === mem, 'a view of the bus memory');
    b.send(c.id, m.payload);
    expect(data, `${size} B sent on`);
    b.send(c.id, m.payload.subarray(3, size - 1)); // an unaligned part
    expect(data.subarray(3, size - 1), `${size} B, part`);
    b.send(c.id, new DataView(mem, m.payload.byteOffset + 1, size - 1));
    expect(data.subarray(1), `${size} B, a DataView`);
    // sent on while the message is held, then freed: the copy was made at the send
    b.send(c.id, m.payload);
    m.free();
    expect(data, `${size} B, freed after the send`);
  }
  // the user region
  const u = new Uint8Array(mem, bus.userRegion, 65536);
  for (let i = 0; i < u.length; i++) u[i] = (i * 7) & 0xff;
  b.send(c.id, u.subarray(0, 30000));
  expect(u.slice(0, 30000), 'the user region');
  // (2049 B: the message and the one freed after; its part and DataView fit SEND_INLINE_MAX. 4099 and 40000 B: all four. The user region: one)
  assert.is(copies, 2 + 4 + 4 + 1, 'every payload above SEND_INLINE_MAX in the bus memory was copied by the core');
  a.send(c.id, new Uint8Array(5000));
  c.recv()!.free();
  assert.is(copies, 11, 'a payload from the heap is copied by the host');
  e.copyIn = copyIn;
  assert.is(c.queued, 0);
  a.close(); b.close(); c.close();
});

t('a payload in this thread\'s own command area (which the send writes): EFAULT, nothing sent, by send, sendMany and sendAsync; a view just before it is sent (stop 34 audit)', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  const e = bus.engine, u8 = e.u8, cmd = e.cmd;
  const efault = (f: () => unknown, what: RegExp) => {
    try { f(); assert.unreachable('sent'); } catch (err) {
      assert.instance(err, BusError);
      assert.is((err as BusError).code, 'EFAULT', (err as BusError).message);
      assert.match((err as BusError).message, what);
      assert.match((err as BusError).message, /overlaps this thread's command area/);
    }
  };
  // (before stop 34 a 4096-byte view there went out with its bytes changed; a small one as it was)
  for (const [at, len] of [[0, 4096], [0, 64], [A.CMD_MAX - 8, 64], [-8, 16], [A.SEND_CMD_SIZE + 4, A.SEND_INLINE_MAX + 1]]) {
    const view = new Uint8Array(u8.buffer, cmd + at, len);
    efault(() => a.send(b.id, view), /^send: /);
    efault(() => a.send(b.id, new DataView(u8.buffer, cmd + at, len)), /the payload/);
    efault(() => a.sendMany(b.id, [new Uint8Array(8), view]), /payloads\[1\]/);
    assert.is(await a.sendAsync(b.id, view).then(() => 'sent', (err: BusError) => err.code), 'EFAULT');
    assert.is(b.queued, 0, 'nothing sent');
  }
  // right before the area (the thread slot's own words: whatever they hold, sent as they are)
  const before = new Uint8Array(u8.buffer, cmd - 16, 16), copy = before.slice();
  a.send(b.id, before);
  const m = b.recv()!;
  assert.equal(m.payload, copy);
  m.free();
  a.close(); b.close();
});

t('a payload in free space of the receiver\'s pool (a view kept after free()) that the send\'s own slice takes: EFAULT, nothing sent; a live message sent to its own receiver is copied', async ({ bus }) => {
  const a = bus.connect(), b = bus.connect();
  for (const size of [A.SEND_INLINE_MAX + 1, 5000, 40000]) {
    const data = new Uint8Array(size).fill(0x41);
    a.send(b.id, data);
    const m = b.recv()!;
    const view = m.payload;
    m.free(); // (the view now shows free pool space: the next slice of that size takes it)
    const used = b.poolUsed;
    try {
      a.send(b.id, view);
      assert.unreachable('sent');
    } catch (err) {
      assert.instance(err, BusError);
      assert.is((err as BusError).code, 'EFAULT');
      assert.match((err as BusError).message, /overlaps the slice this send reserved in the receiver's pool/);
    }
    assert.is(b.queued, 0, 'nothing sent');
    assert.is(b.poolUsed, used, 'the reservation undone');
    assert.is(await a.sendAsync(b.id, view).then(() => 'sent', (e: BusError) => e.code), 'EFAULT', 'sendAsync rejects at once (no room helps)');
    assert.is(b.queued, 0);
    // a live message's bytes sent to its own receiver: the new slice is elsewhere
    a.send(b.id, data);
    const live = b.recv()!;
    b.send(b.id, live.payload);
    const copy = b.recv()!;
    assert.equal(copy.payload, data);
    copy.free(); live.free();
  }
  // up to SEND_INLINE_MAX the payload is copied into the command area before the SEND: sent as it was at the call
  a.send(b.id, new Uint8Array(A.SEND_INLINE_MAX).fill(7));
  const m = b.recv()!, view = m.payload;
  m.free();
  a.send(b.id, view);
  const r = b.recv()!;
  assert.equal(r.payload, new Uint8Array(A.SEND_INLINE_MAX).fill(7));
  r.free();
  a.close(); b.close();
});

t('JSON.stringify of a message, a connection and a bus: a summary, at once (it walked the whole memory)', ({ bus }) => {
  const a = bus.connect({ description: 'alice' }), b = bus.connect();
  a.send(b.id, new Uint8Array([1, 2, 3]), { priority: -2 });
  const m = b.recv()!;
  const j = JSON.parse(JSON.stringify(m));
  assert.equal(j, {
    src: a.id, dst: b.id, cookie: 1, cookieReply: 0, flags: 0, priority: -2,
    payloadType: '0x' + m.payloadType.toString(16), payloadLength: 3, offset: m.offset, size: m.size,
  });
  m.free();
  assert.equal(JSON.parse(JSON.stringify(m)), { offset: m.offset, size: m.size, freed: true }, 'a freed message: no accessor throws');
  assert.equal(JSON.parse(JSON.stringify(a)), { id: a.id, uniqueName: a.uniqueName, description: 'alice', closed: false });
  const jb = JSON.parse(JSON.stringify(bus));
  assert.is(jb.engine, bus.engine.kind);
  assert.equal(jb.connections.slice(-2), [a.id, b.id]);
  assert.is(jb.isShutdown, false);
  assert.is(JSON.parse(JSON.stringify(bus.engine)).kind, bus.engine.kind);
  assert.ok(JSON.stringify({ bus, a, b }).length < 4096, 'no typed array of the memory in it');
  a.close(); b.close();
  assert.is(JSON.parse(JSON.stringify(a)).closed, true);
});

t('util.inspect (console.log) of a message, a connection, a bus and its engine: the class name and the toJSON fields, not the internals', ({ bus }) => {
  // Node's and Deno's util.inspect where the runtime has one (process.getBuiltinModule: no
  // import a browser bundle would fail on); elsewhere (Chromium) the symbol's method, called
  // as util.inspect calls it, with a stand-in inspect
  const util = (globalThis as { process?: { getBuiltinModule?: (id: string) => { inspect: (v: unknown, o?: object) => string } | undefined } }).process?.getBuiltinModule?.('node:util');
  const INSPECT = Symbol.for('nodejs.util.inspect.custom');
  const stand = (v: unknown): string => typeof v === 'object' && v !== null && INSPECT in v
    ? (v as Record<symbol, (d: number, o: object, i: unknown) => string>)[INSPECT](2, {}, stand)
    : Array.isArray(v) ? `[ ${v.map(stand).join(', ')} ]`
    : typeof v === 'object' && v !== null ? `{ ${Object.entries(v).map(([k, x]) => `${k}: ${stand(x)}`).join(', ')} }`
    : typeof v === 'string' ? `'${v}'` : String(v);
  const inspect = (v: unknown, o?: object): string => util ? util.inspect(v, o) : stand(v);
  const a = bus.connect({ description: 'alice' }), b = bus.connect();
  a.send(b.id, new Uint8Array([1, 2, 3]), { cookie: 9 });
  const m = b.recv()!;
  const s = inspect(m);
  assert.ok(s.startsWith('Message {'), s);
  assert.match(s, /cookie: 9,/);
  assert.match(s, new RegExp(`src: ${a.id}`));
  assert.match(s, /payloadLength: 3/);
  assert.ok(s.length < 400, `short (it was 3.4 KB of the connection and engine): ${s.length}`);
  m.free();
  assert.is(inspect(m), `Message { offset: ${m.offset}, size: ${m.size}, freed: true }`);
  assert.is(inspect(a), `Connection { id: ${a.id}, uniqueName: '${a.uniqueName}', description: 'alice', closed: false }`);
  assert.ok(inspect(bus).startsWith('Bus {'));
  assert.ok(inspect(bus, { depth: 5 }).length < 2048, 'no memory in it');
  assert.match(inspect(bus.engine), /^(WasmEngine|TwinEngine) \{ kind: '(wasm|twin)'/);
  assert.match(inspect({ nested: [m] }), /Message \{ offset/, 'nested too');
  // past util.inspect's depth, [Name], as Node shows its own objects there (they were expanded
  // in full at any depth: a second look)
  if (util) {
    assert.match(util.inspect({ a: { b: { c: bus } } }), /c: \[Bus\]/);
    assert.match(util.inspect({ a: { bus } }), /limits: \[Object\]/, 'its fields\' objects one level further');
  }
  a.close(); b.close();
});

t('ABI_FINGERPRINT: the generated hash of the ABI constants, exported', () => {
  assert.type(ABI_FINGERPRINT, 'number');
  assert.ok(Number.isInteger(ABI_FINGERPRINT) && (ABI_FINGERPRINT as number) !== 0);
});

t.run();
