// A test worker: joins the bus from the handle it is given and plays one role. Every wait has
// a timeout; every outcome is posted to the parent (which asserts on it).
import { Bus, BusError, MockProvider, type BusHandle, type EngineKind, type Message } from '../../js/index.ts';
import { input, post } from '../helpers/worker.ts';
import { senderPayload } from './payload.ts';

export interface PeerInput {
  role: 'echo' | 'once' | 'unref' | 'timeout' | 'wait' | 'sender' | 'listen' | 'line-unref' | 'line-leave' | 'held' | 'name-unref' | 'batch-held' | 'zombie' | 'zombie-objects' | 'recover-creator' | 'provider-blocked';
  handle: BusHandle;
  /** this worker's engine (default: the handle's) */
  engine?: EngineKind;
  /** sender: its index, the receiver's id, how many messages, payload size */
  index?: number;
  dst?: number;
  count?: number;
  size?: number;
  /** held, batch-held, zombie: [0] set by the worker once it blocks, [1] set by the parent to let it go on */
  ctl?: SharedArrayBuffer;
  /** provider-blocked: where its two control words are in `ctl` ([at] set once it blocks in its provider's clock, [at + 1] set by the parent to let it go on), the name it requests first, the name it sends to (else `dst`), and its tid */
  ctlAt?: number;
  name?: string;
  dstName?: string;
  tid?: number;
  /** provider-blocked: what blocks in the provider: its send (by default, after it requested `name`), or its request of `name`, whose NAME_ADD notification to a receiver that asks for timestamps reads the clock with the bus lock held ('name', then it sends) */
  blockIn?: 'send' | 'name';
  /** provider-blocked: also post its provider's clock reads from its block to the end of its send (`clockCalls`) */
  countClock?: boolean;
  /** provider-blocked: its provider's epoch moves (an identity change, as the default provider's TTL renewal) before its send, or right after its clock's block */
  bump?: 'before' | 'after';
  /** posts { pre: true }, then waits (at most 10 s) until the parent sets gate[0] before it joins; posts { joined: true, slot } once joined */
  gate?: SharedArrayBuffer;
}

/** A MockProvider whose next clock read, once armed, says so in ctl[at] and blocks until ctl[at + 1] is set (at most 10 s). */
class BlockingClock extends MockProvider {
  armed = false;
  /** clock reads since it was first armed */
  calls = 0;
  private counting = false;
  /** the epoch moves once the block ends */
  bumpAfter = false;
  constructor(private readonly ctl: Int32Array, private readonly at: number, opts: ConstructorParameters<typeof MockProvider>[0]) { super(opts); }
  override clock(id: number, out: Uint32Array): boolean {
    if (this.counting) this.calls++;
    if (this.armed) {
      this.armed = false;
      this.counting = true;
      this.calls = 1;
      Atomics.store(this.ctl, this.at, 1);
      Atomics.notify(this.ctl, this.at);
      Atomics.wait(this.ctl, this.at + 1, 0, 10000);
      if (this.bumpAfter) this.setIdentity({});
    }
    return super.clock(id, out);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const errText = (e: unknown) => (e instanceof BusError ? e.code : String((e as Error)?.stack ?? e));

const inp = await input<PeerInput>();
try {
  // each worker gets its own (mock) identity: own uid, so per-user quotas are per worker
  const uid = 2000 + (inp.index ?? 0);
  if (inp.gate !== undefined) {
    post({ pre: true });
    Atomics.wait(new Int32Array(inp.gate), 0, 0, 10000);
  }
  const provider = inp.role === 'provider-blocked'
    ? new BlockingClock(new Int32Array(inp.ctl!), inp.ctlAt ?? 0, { seed: 7 + (inp.index ?? 0), creds: { uid }, pids: { pid: 4000, tid: inp.tid ?? 4001, ppid: 1 } })
    : new MockProvider({ seed: 7 + (inp.index ?? 0), creds: { uid } });
  const bus = await Bus.join(inp.handle, { engine: inp.engine, provider });
  // (with a gate: the slot it joined, at once; a watch may recover it before it connects)
  if (inp.gate !== undefined) post({ joined: true, slot: bus.engine.threadSlot });
  const conn = bus.connect({ poolSize: 262144, description: `peer-${inp.role}` });
  post({ ready: true, id: conn.id, engine: bus.engine.kind, slot: bus.engine.threadSlot, id128: [...bus.id128] });

  if (inp.role === 'echo') {
    // reply to every message with its bytes reversed, until an empty message
    for (;;) {
      const m: Message = await conn.recvAsync({ timeout: 10000 });
      const bytes = m.payload;
      const inPlace = bytes.buffer === bus.memory.buffer && bytes.byteOffset >= conn.poolBase && bytes.byteOffset < conn.poolBase + conn.poolSize;
      const copy = bytes.slice();
      const src = m.src, cookie = m.cookie;
      m.free(); // all our commands are done before the peer hears from us
      if (copy.length === 0) break;
      post({ got: [...copy], inPlace, cookie });
      conn.send(src, copy.reverse(), { cookie: cookie + 1000 });
    }
    conn.close();
    bus.close();
    post({ done: true });
  } else if (inp.role === 'once') {
    // the worker's only pending thing: one receive (it must keep this worker alive)
    const m = await conn.recvAsync({ timeout: 10000 });
    const got = [...m.payload];
    m.free();
    conn.close();
    bus.close();
    post({ got });
    // nothing holds this worker any more: it exits by itself
  } else if (inp.role === 'held') {
    // a receive parked (recvAsync), then this thread blocked on a control word until the
    // parent lets it go (at most 10 s): the receive's wake-up cannot run meanwhile
    const ctl = new Int32Array(inp.ctl!);
    const p = conn.recvAsync({ timeout: 20000 });
    setTimeout(() => { Atomics.store(ctl, 0, 1); Atomics.notify(ctl, 0); Atomics.wait(ctl, 1, 0, 10000); }, 0);
    const m = await p;
    const got = [...m.payload];
    m.free();
    conn.close({ drop: true }); // (the parent's second message, unread)
    bus.close();
    post({ got });
  } else if (inp.role === 'batch-held') {
    // in a batch (bus.batch): one message to `dst`, then this thread blocked on a control word
    // (not a bus wait, which would pay the batch's wake first) until the parent lets it go (at
    // most 10 s); then the batch ends, and the worker leaves as well as it can
    const ctl = new Int32Array(inp.ctl!);
    let end = 'ok', close = 'ok';
    try {
      bus.batch(() => {
        conn.send(inp.dst!, new Uint8Array([9]));
        Atomics.store(ctl, 0, 1);
        Atomics.notify(ctl, 0);
        Atomics.wait(ctl, 1, 0, 10000);
      });
    } catch (e) { end = errText(e); }
    try { conn.close(); } catch (e) { close = errText(e); }
    try { bus.close(); } catch (e) { close += `/${errText(e)}`; }
    post({ end, close });
  } else if (inp.role === 'zombie') {
    // blocked (not in a bus call) until the parent lets it go (at most 10 s), meanwhile
    // declared dead by the parent; then it closes its connection and leaves as a program would
    const ctl = new Int32Array(inp.ctl!);
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    Atomics.wait(ctl, 1, 0, 10000);
    let close = 'ok';
    try { conn.close(); } catch (e) { close = errText(e); }
    try { bus.close(); } catch (e) { close += `/${errText(e)}`; }
    post({ close });
  } else if (inp.role === 'zombie-objects') {
    // a listener, a match, an onSignal handler, a parked iterator step and a held message,
    // then blocked (not in a bus call) until the parent lets it go (at most 10 s), meanwhile
    // declared dead by the parent; then it ends each of them as a program would, and leaves
    const ctl = new Int32Array(inp.ctl!);
    conn.send(conn.id, new Uint8Array([4]));
    const held = conn.recv()!;
    const seen: number[] = [];
    const l = conn.listen((m) => { seen.push(m.payload[0]!); });
    const removeMatch = conn.addMatch('');
    const off = conn.onSignal('type=signal', () => {});
    const done = l.done.then(() => 'ok', (e) => errText(e));
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    Atomics.wait(ctl, 1, 0, 10000);
    const out: Record<string, string> = {};
    const run = (k: string, f: () => unknown) => { try { f(); out[k] = 'ok'; } catch (e) { out[k] = errText(e); } };
    run('stop', () => l.stop());
    run('stopAgain', () => l.stop());
    run('removeMatch', removeMatch);
    run('off', off);
    run('free', () => held.free());
    run('unref', () => conn.unref());
    run('ref', () => conn.ref());
    out.done = await Promise.race([done, sleep(2000).then(() => 'pending')]);
    out.seen = seen.join(',');
    run('close', () => conn.close());
    run('busClose', () => bus.close());
    post({ out });
  } else if (inp.role === 'provider-blocked') {
    // a name first (when given), then one message whose metadata collection blocks in the
    // provider's clock (at most 10 s) until the parent lets it go; then it leaves as it can
    const arm = () => {
      if (inp.bump === 'before') provider.setIdentity({});
      (provider as BlockingClock).armed = true;
      (provider as BlockingClock).bumpAfter = inp.bump === 'after';
    };
    let sent = 'ok';
    if (inp.blockIn === 'name') {
      arm();
      try { conn.requestName(inp.name!); } catch (e) { sent = `requestName ${errText(e)}`; }
    } else {
      if (inp.name !== undefined) conn.requestName(inp.name);
      arm();
    }
    try { if (sent === 'ok') conn.send(inp.dstName ?? inp.dst!, new Uint8Array([7])); } catch (e) { sent = errText(e); }
    const clockCalls = (provider as BlockingClock).calls;
    let close = 'ok';
    try { conn.close(); } catch (e) { close = errText(e); }
    try { bus.close(); } catch (e) { close += `/${errText(e)}`; }
    post(inp.countClock ? { sent, close, clockCalls } : { sent, close });
  } else if (inp.role === 'recover-creator') {
    // once the parent says it is blocked ([0] = 1), declares it dead (token 1, the creator's)
    // and recovers it: [1] = the slot + 1 (or 1000 + the errno); then, once the parent says it
    // tried its shutdown ([2] = 1), one message to itself tells whether the bus still runs
    const ctl = new Int32Array(inp.ctl!);
    Atomics.wait(ctl, 0, 0, 10000);
    let r: number;
    try { r = bus.recoverThread(1) + 1; } catch (e) { r = 1000 + ((e as BusError).errno ?? 0); }
    Atomics.store(ctl, 1, r);
    Atomics.notify(ctl, 1);
    Atomics.wait(ctl, 2, 0, 10000);
    let after = 'ok';
    try {
      conn.send(conn.id, new Uint8Array([3]));
      const m = conn.recv();
      if (m === null) after = 'nothing received';
      else m.free();
    } catch (e) { after = errText(e); }
    conn.close();
    bus.close();
    post({ recovered: r - 1, after });
  } else if (inp.role === 'unref') {
    // an unref'd receive does not keep the worker alive: it exits with this still pending
    conn.unref();
    conn.recvAsync({ timeout: 10000 }).then(
      (m) => { post({ got: [...m.payload] }); m.free(); },
      (e) => post({ error: errText(e) }),
    );
  } else if (inp.role === 'name-unref') {
    // waits for names that never come keep nothing alive when told so: conn.waitForName on an
    // unref'd connection, bus.waitForName with keepAlive: false (stop 35: both held the
    // worker until their timeout); the worker exits with both pending
    conn.unref();
    conn.waitForName('org.example.Never', { timeout: 20000 }).then((id) => post({ owner: id }), (e) => post({ error: errText(e) }));
    bus.waitForName('org.example.NeverEither', { timeout: 20000, keepAlive: false }).then((id) => post({ owner: id }), (e) => post({ error: errText(e) }));
    post({ waiting: true });
  } else if (inp.role === 'line-unref') {
    // sends waiting in a full receiver's line keep nothing alive: two with keepAlive: false
    // (the second behind the first, in the line's shared wait) and one that times out behind
    // them (it leaves a passer); the worker exits once that one has said ETIMEDOUT
    const rx = bus.connect({ poolSize: 4096 });
    try { for (;;) conn.send(rx.id, new Uint8Array(64)); } catch { /* full */ }
    conn.sendAsync(rx.id, new Uint8Array(64), { keepAlive: false }).catch(() => {});
    conn.sendAsync(rx.id, new Uint8Array(64), { keepAlive: false }).catch(() => {});
    conn.sendAsync(rx.id, new Uint8Array(64), { timeout: 50 }).then(() => post({ code: 'sent' }), (e) => post({ code: errText(e) }));
  } else if (inp.role === 'line-leave') {
    // sends behind a holder of the parent's in its receiver's line (`dst`: its pool full, the
    // parent's own send waiting there for room): one that times out, one aborted, each leaving
    // a passer behind the holder; then the connection closed, the thread gone from the bus
    // (bus.close()) and out (it exits by itself) with the passers' ticket still behind: its
    // waits on the line's turn word must be off the receiver's count by then (stop 62)
    const dst = inp.dst!;
    const ac = new AbortController();
    const aborted = conn.sendAsync(dst, new Uint8Array(64), { timeout: 20000, signal: ac.signal }).then(() => 'sent', errText);
    const timed = await conn.sendAsync(dst, new Uint8Array(64), { timeout: 50 }).then(() => 'sent', errText);
    ac.abort();
    const codes = [timed, await aborted];
    conn.close();
    bus.close();
    post({ codes });
  } else if (inp.role === 'timeout') {
    // receives that time out are the worker's only pending things: each keeps it alive until
    // its ETIMEDOUT (the deadline timer itself holds nothing); then it leaves and exits by itself
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      try {
        (await conn.recvAsync({ timeout: 150 })).free();
        codes.push('message');
      } catch (e) {
        codes.push(errText(e));
      }
    }
    conn.close();
    bus.close();
    post({ codes });
  } else if (inp.role === 'wait') {
    // blocking receives: one woken by the parent's send, one that times out
    const t0 = performance.now();
    const m = conn.recvWait(10000);
    const waited = performance.now() - t0;
    const got = m ? [...m.payload] : null;
    m?.free();
    const t1 = performance.now();
    const none = conn.recvWait(50);
    post({ got, waited, none: none === null, timedOutAfter: performance.now() - t1 });
    conn.close();
    bus.close();
    post({ done: true });
  } else if (inp.role === 'listen') {
    // conn.listen: check each message's sequence number (its first 4 bytes, little-endian),
    // answer every `count`-th with an empty acknowledgement, stop at an empty message
    const every = inp.count ?? 1;
    let expect = 0, bad = -1;
    const l = conn.listen((m) => {
      const p = m.payload;
      if (p.length === 0) { l.stop(); return; }
      const seq = new DataView(p.buffer, p.byteOffset).getUint32(0, true);
      if (seq !== expect && bad < 0) bad = seq;
      expect = seq + 1;
      if (expect % every === 0) conn.send(m.src, new Uint8Array(1));
    });
    const guard = setTimeout(() => l.stop(), 20000); // (a bound: a parent that never stops us)
    await l.done;
    clearTimeout(guard);
    const received = l.received, pool = conn.poolUsed;
    conn.close();
    bus.close();
    post({ done: true, received, expect, bad, pool });
  } else if (inp.role === 'sender') {
    // wait for the parent's go (an empty message on the bus), then send `count` messages
    const go = await conn.recvAsync({ timeout: 20000 });
    go.free();
    const { index = 0, dst = 0, count = 0, size = 16 } = inp;
    let retries = 0;
    for (let seq = 0; seq < count;) {
      try {
        conn.send(dst, senderPayload(index, seq, size), { cookie: seq + 1 });
        seq++;
      } catch (e) {
        // the receiver's pool or our quota in it is full: let it drain, then try again
        if (e instanceof BusError && (e.code === 'ENOBUFS' || e.code === 'EXFULL')) { retries++; await sleep(1); continue; }
        throw e;
      }
    }
    conn.close();
    bus.close();
    post({ done: true, retries });
  }
} catch (e) {
  post({ error: errText(e) });
}
