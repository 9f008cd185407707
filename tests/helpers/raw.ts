// raw: the command ABI driven directly, as the kdbus selftests drove ioctls. Writes command
// structs into the engine's command area with the host's codec (js/cmd/: the same encoders
// the public API uses), then overwrites the fields a test sets to what the API never writes
// (u64 values past 2^53, ~0, bad sizes), and returns the core's result plus its outputs.
import { abi as A, type Engine } from '../../js/index.ts';
import { put64big, get64, get64big } from '../../js/wire.ts';
import { HELLO, SEND, RECV, FREE, BYEBYE, MATCH, NAMES, LIST, items as I, reasonText } from '../../js/cmd/index.ts';

export type U64 = bigint | number;
export interface Item {
  type: number;
  /** payload bytes; or u64 values; or a string (NUL added) */
  data?: Uint8Array | U64[] | string;
  /** override the item's size field */
  size?: number;
}

const enc = new TextEncoder();
export const ALL = 0xffffffffffffffffn;

export function itemBytes(it: Item): Uint8Array {
  if (it.data === undefined) return new Uint8Array(0);
  if (typeof it.data === 'string') {
    const s = enc.encode(it.data);
    const b = new Uint8Array(s.length + 1);
    b.set(s);
    return b;
  }
  if (it.data instanceof Uint8Array) return it.data;
  const b = new Uint8Array(it.data.length * 8);
  const dv = new DataView(b.buffer);
  it.data.forEach((v, i) => dv.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(v)), true));
  return b;
}

export const vec = (size: U64, address: U64): Item => ({ type: A.ITEM_PAYLOAD_VEC, data: [size, address] });
export const hostVec = (size: U64): Item => vec(size, ALL);
export const str = (type: number, s: string): Item => ({ type, data: s });

export interface MsgFields {
  size?: U64; flags?: U64; priority?: U64; dst?: U64; src?: U64; payloadType?: U64; cookie?: U64; timeout?: U64;
}

/** `v` as a number when it is one the codec writes exactly (a safe integer, or a negative s64), else null */
function num(v: U64): number | null {
  const n = typeof v === 'bigint' ? (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null) : v;
  return n !== null && Number.isSafeInteger(n) ? n : null;
}

export class Raw {
  constructor(readonly e: Engine) {}

  get cmd(): number { return this.e.cmd; }

  w64(addr: number, v: U64): void { put64big(this.e.u32, addr, BigInt.asUintN(64, BigInt(v))); }
  r64(addr: number): number { return get64(this.e.u32, addr); }
  r64big(addr: number): bigint { return get64big(this.e.u32, addr); }

  /**
   * A field the test set: the codec got `v` where it could take it (else 0), and the u64
   * field is now set to `v` exactly (the codec writes u32 fields such as flags as u32s).
   */
  private fix(fields: [number, U64 | undefined][]): void {
    for (const [addr, v] of fields) if (v !== undefined) this.w64(addr, v);
  }
  private n(v: U64 | undefined, dflt: number): number {
    return v === undefined ? dflt : num(v) ?? 0;
  }

  /** The reason the core reported for the last failed command of this thread, and its number. */
  get reason(): { reason: number; arg: number } {
    const t = this.cmd - A.THREAD_CMD;
    return { reason: this.e.u32[(t + A.THREAD_REASON) >>> 2], arg: this.e.u32[(t + A.THREAD_REASON_ARG) >>> 2] };
  }
  /** The host's message for a failed result `r` of `command` (the codec's, as the API builds it). */
  message(r: number, command: string): string | null {
    return reasonText(this.e.u32, this.cmd, -r, command)?.text ?? null;
  }

  /** Write items at `p`; returns the end (8-aligned). */
  writeItems(p: number, items: Item[]): number {
    const { u8, u32 } = this.e;
    for (const it of items) {
      const b = itemBytes(it);
      const n = A.ITEM_HDR + b.length;
      I.putItemHeader(u32, p, it.size ?? n, it.type);
      u8.set(b, p + A.ITEM_HDR);
      u8.fill(0, p + n, p + I.align8(n));
      p += I.align8(n);
    }
    return p;
  }

  /** Write a HELLO command (not run). */
  writeHello(o: { flags?: U64; attachSend?: U64; attachRecv?: U64; poolSize?: U64; items?: Item[]; size?: U64 } = {}): void {
    const c = this.cmd, { u8, u32 } = this.e;
    const end = this.writeItems(c + HELLO.ITEMS, o.items ?? []);
    HELLO.encode(u8, u32, c, this.n(o.size, end - c), this.n(o.flags, 0), this.n(o.attachSend, 0), this.n(o.attachRecv, 0), this.n(o.poolSize, 16384));
    this.fix([[c + A.CMD_SIZE, o.size], [c + A.CMD_FLAGS, o.flags], [c + A.HELLO_ATTACH_SEND, o.attachSend],
      [c + A.HELLO_ATTACH_RECV, o.attachRecv], [c + A.HELLO_POOL_SIZE, o.poolSize]]);
  }

  hello(o: Parameters<Raw['writeHello']>[0] = {}) {
    const c = this.cmd, { u8, u32 } = this.e;
    this.writeHello(o);
    const r = this.e.hello();
    return {
      r, slot: r, gen: r >= 0 ? this.e.connGen(r) : -1,
      id: HELLO.id(u32, c), offset: HELLO.offset(u32, c), itemsSize: HELLO.itemsSize(u32, c),
      busFlags: HELLO.busFlags(u32, c), id128: HELLO.id128(u8, c),
    };
  }

  /** Write a SEND command with its message right after it; returns the message address. */
  writeSend(o: { flags?: U64; msg?: MsgFields; items?: Item[]; cmdItems?: Item[]; cmdSize?: U64; msgAddress?: U64 } = {}): number {
    const c = this.cmd, u32 = this.e.u32;
    const cmdEnd = this.writeItems(c + SEND.MSG, o.cmdItems ?? []);
    const m = cmdEnd;
    const end = this.writeItems(m + A.MSG_HDR, o.items ?? []);
    const f = o.msg ?? {};
    SEND.encodeMsg(u32, m, this.n(f.size, end - m), this.n(f.flags, 0), this.n(f.priority, 0), this.n(f.dst, 0), this.n(f.cookie, 0), this.n(f.timeout, 0));
    this.w64(m + A.MSG_SRC_ID, f.src ?? 0);
    this.w64(m + A.MSG_PAYLOAD_TYPE, f.payloadType ?? 1);
    this.fix([[m + A.MSG_SIZE, f.size], [m + A.MSG_FLAGS, f.flags], [m + A.MSG_PRIORITY, f.priority], [m + A.MSG_DST_ID, f.dst],
      [m + A.MSG_COOKIE, f.cookie], [m + A.MSG_TIMEOUT, f.timeout]]);
    SEND.encode(u32, c, this.n(o.msgAddress, m), this.n(o.flags, 0));
    this.w64(c + A.CMD_SIZE, o.cmdSize ?? cmdEnd - c); // command items (the API sends none)
    this.fix([[c + A.CMD_FLAGS, o.flags], [c + A.SEND_MSG_ADDRESS, o.msgAddress]]);
    return m;
  }

  /**
   * SEND; host vecs get `fill` bytes (or the bytes given) copied in and are committed, as
   * the public API does.
   */
  send(slot: number, gen: number, o: Parameters<Raw['writeSend']>[0] & { host?: Uint8Array[] } = {}): number {
    const m = this.writeSend(o);
    const r = this.e.send(slot, gen);
    if (r !== A.SEND_PENDING) return r;
    const u32 = this.e.u32;
    const vecs = (o.items ?? []).filter((it) => it.type === A.ITEM_PAYLOAD_VEC);
    let i = 0;
    const end = m + this.r64(m + A.MSG_SIZE);
    for (let p = m + A.MSG_HDR, n = 0; (n = I.itemSize(u32, p, end)) !== 0; p += I.align8(n)) {
      if (I.itemType(u32, p) !== A.ITEM_PAYLOAD_VEC) continue;
      const d = vecs[i++]?.data as U64[] | undefined;
      if (!d || BigInt(d[1]) !== ALL) continue;
      const size = I.vecSize(u32, p), addr = SEND.vecDestination(u32, p);
      const src = o.host?.shift() ?? new Uint8Array(size).fill(0xab);
      this.e.u8.set(src.subarray(0, size), addr);
    }
    return this.e.sendCommit();
  }

  /** Write a RECV command (not run). */
  writeRecv(flags: U64 = 0, priority: U64 = 0, size: U64 = A.RECV_CMD_SIZE): void {
    const c = this.cmd;
    this.e.u8.fill(0, c, c + A.RECV_CMD_SIZE);
    RECV.encode(this.e.u32, c, this.n(flags, 0), this.n(priority, 0));
    this.fix([[c + A.CMD_SIZE, size], [c + A.CMD_FLAGS, flags], [c + A.RECV_PRIORITY, priority]]);
  }

  recv(slot: number, gen: number, flags: U64 = 0, priority: U64 = 0, size: U64 = A.RECV_CMD_SIZE) {
    const c = this.cmd, u32 = this.e.u32;
    this.writeRecv(flags, priority, size);
    const r = this.e.recv(slot, gen);
    return {
      r, offset: RECV.offset(u32, c), size: RECV.size(u32, c),
      dropped: this.r64(c + A.RECV_DROPPED_MSGS), returnFlags: this.r64(c + A.CMD_RETURN_FLAGS),
    };
  }

  /** Write a FREE command (not run). */
  writeFree(offset: U64, flags: U64 = 0, size: U64 = A.FREE_CMD_SIZE): void {
    const c = this.cmd;
    FREE.encode(this.e.u32, c, this.n(offset, 0));
    this.fix([[c + A.CMD_SIZE, size], [c + A.CMD_FLAGS, flags], [c + A.FREE_OFFSET, offset]]);
  }

  free(slot: number, gen: number, offset: U64, flags: U64 = 0, size: U64 = A.FREE_CMD_SIZE): number {
    this.writeFree(offset, flags, size);
    return this.e.free(slot, gen);
  }

  /** Write a BYEBYE command (not run). */
  writeByebye(flags: U64 = 0, size: U64 = A.BYEBYE_CMD_SIZE): void {
    const c = this.cmd;
    BYEBYE.encode(this.e.u32, c);
    this.fix([[c + A.CMD_SIZE, size], [c + A.CMD_FLAGS, flags]]);
  }

  byebye(slot: number, gen: number, flags: U64 = 0, size: U64 = A.BYEBYE_CMD_SIZE): number {
    this.writeByebye(flags, size);
    return this.e.byebye(slot, gen);
  }

  /** Write a MATCH_ADD / MATCH_REMOVE command with its rule items (not run). */
  writeMatch(cookie: U64, o: { flags?: U64; items?: Item[]; size?: U64 } = {}): void {
    const c = this.cmd;
    const end = this.writeItems(c + A.MATCH_CMD_SIZE, o.items ?? []);
    MATCH.encode(this.e.u32, c, this.n(o.size, end - c), this.n(o.flags, 0), 0);
    this.w64(c + A.MATCH_CMD_COOKIE, cookie);
    this.fix([[c + A.CMD_SIZE, o.size], [c + A.CMD_FLAGS, o.flags]]);
  }

  matchAdd(slot: number, gen: number, cookie: U64, o: Parameters<Raw['writeMatch']>[1] = {}): number {
    this.writeMatch(cookie, o);
    return this.e.matchAdd(slot, gen);
  }

  matchRemove(slot: number, gen: number, cookie: U64, o: Parameters<Raw['writeMatch']>[1] = {}): number {
    this.writeMatch(cookie, o);
    return this.e.matchRemove(slot, gen);
  }

  // names issue
  /** Write NAME_ACQUIRE / NAME_RELEASE for `name` (not run); `items` replace the NAME item. */
  writeName(name: string, o: { flags?: U64; items?: Item[]; size?: U64 } = {}): void {
    const c = this.cmd, { u8, u32 } = this.e;
    let size = NAMES.encode(u8, u32, c, this.n(o.flags, 0), new TextEncoder().encode(name));
    if (o.items) size = this.writeItems(c + A.NAME_CMD_SIZE, o.items) - c;
    this.w64(c + A.CMD_SIZE, o.size ?? size);
    this.fix([[c + A.CMD_FLAGS, o.flags]]);
  }

  /** NAME_ACQUIRE: the result and the return flags. */
  nameAcquire(slot: number, gen: number, name: string, flags: U64 = 0, o: { items?: Item[]; size?: U64 } = {}) {
    this.writeName(name, { flags, ...o });
    const r = this.e.nameAcquire(slot, gen);
    return { r, flags: this.r64(this.cmd + A.CMD_RETURN_FLAGS) };
  }

  nameRelease(slot: number, gen: number, name: string, flags: U64 = 0, o: { items?: Item[]; size?: U64 } = {}): number {
    this.writeName(name, { flags, ...o });
    return this.e.nameRelease(slot, gen);
  }

  /** LIST: the result and the records (the slice freed), or the raw offset/size with keep. */
  list(slot: number, gen: number, flags: U64, o: { size?: U64; keep?: boolean } = {}) {
    const c = this.cmd, { u8, u32 } = this.e;
    LIST.encode(u32, c, this.n(flags, 0));
    this.fix([[c + A.CMD_SIZE, o.size], [c + A.CMD_FLAGS, flags]]);
    const r = this.e.list(slot, gen);
    if (r < 0) return { r, offset: 0, size: 0, entries: [] as LIST.Entry[] };
    const offset = LIST.offset(u32, c), size = LIST.size(u32, c);
    const entries = LIST.decode(u8, u32, this.slice(slot, offset), size);
    if (!o.keep) this.free(slot, this.e.connGen(slot), offset);
    return { r, offset, size, entries };
  }

  /** Address of a slice in a connection's pool. */
  slice(slot: number, offset: number): number {
    return this.e.poolBase(slot) + offset;
  }
}

