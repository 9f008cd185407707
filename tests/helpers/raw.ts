// raw: the command ABI driven directly, as the kdbus selftests drove ioctls. Writes command
// structs into the engine's command area and returns the core's result plus its outputs.
import { abi as A, type Engine } from '../../js/index.ts';
import { put64big, get64, get64big } from '../../js/wire.ts';

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

export class Raw {
  constructor(readonly e: Engine) {}

  get cmd(): number { return this.e.cmd; }

  w64(addr: number, v: U64): void { put64big(this.e.u32, addr, BigInt.asUintN(64, BigInt(v))); }
  r64(addr: number): number { return get64(this.e.u32, addr); }
  r64big(addr: number): bigint { return get64big(this.e.u32, addr); }

  /** Write items at `p`; returns the end (8-aligned). */
  writeItems(p: number, items: Item[]): number {
    for (const it of items) {
      const b = itemBytes(it);
      const size = it.size ?? A.ITEM_HDR + b.length;
      this.w64(p + A.ITEM_SIZE, size);
      this.w64(p + A.ITEM_TYPE, it.type);
      this.e.u8.set(b, p + A.ITEM_HDR);
      const n = A.ITEM_HDR + b.length;
      this.e.u8.fill(0, p + n, p + ((n + 7) & ~7));
      p += (n + 7) & ~7;
    }
    return p;
  }

  /** Write a HELLO command (not run). */
  writeHello(o: { flags?: U64; attachSend?: U64; attachRecv?: U64; poolSize?: U64; items?: Item[]; size?: U64 } = {}): void {
    const c = this.cmd;
    this.e.u8.fill(0, c, c + A.HELLO_CMD_SIZE);
    const end = this.writeItems(c + A.HELLO_CMD_SIZE, o.items ?? []);
    this.w64(c + A.CMD_SIZE, o.size ?? end - c);
    this.w64(c + A.CMD_FLAGS, o.flags ?? 0);
    this.w64(c + A.HELLO_ATTACH_SEND, o.attachSend ?? 0);
    this.w64(c + A.HELLO_ATTACH_RECV, o.attachRecv ?? 0);
    this.w64(c + A.HELLO_POOL_SIZE, o.poolSize ?? 16384);
  }

  hello(o: Parameters<Raw['writeHello']>[0] = {}) {
    const c = this.cmd;
    this.writeHello(o);
    const r = this.e.hello();
    return {
      r, slot: r, gen: r >= 0 ? this.e.connGen(r) : -1,
      id: this.r64(c + A.HELLO_ID), offset: this.r64(c + A.HELLO_OFFSET), itemsSize: this.r64(c + A.HELLO_ITEMS_SIZE),
      busFlags: this.r64big(c + A.HELLO_BUS_FLAGS), id128: this.e.u8.slice(c + A.HELLO_ID128, c + A.HELLO_ID128 + 16),
    };
  }

  /** Write a SEND command with its message right after it; returns the message address. */
  writeSend(o: { flags?: U64; msg?: MsgFields; items?: Item[]; cmdItems?: Item[]; cmdSize?: U64; msgAddress?: U64 } = {}): number {
    const c = this.cmd;
    const cmdEnd = this.writeItems(c + A.SEND_CMD_SIZE, o.cmdItems ?? []);
    const m = cmdEnd;
    const end = this.writeItems(m + A.MSG_HDR, o.items ?? []);
    const f = o.msg ?? {};
    this.w64(m + A.MSG_SIZE, f.size ?? end - m);
    this.w64(m + A.MSG_FLAGS, f.flags ?? 0);
    this.w64(m + A.MSG_PRIORITY, f.priority ?? 0);
    this.w64(m + A.MSG_DST_ID, f.dst ?? 0);
    this.w64(m + A.MSG_SRC_ID, f.src ?? 0);
    this.w64(m + A.MSG_PAYLOAD_TYPE, f.payloadType ?? 1);
    this.w64(m + A.MSG_COOKIE, f.cookie ?? 0);
    this.w64(m + A.MSG_TIMEOUT, f.timeout ?? 0);
    this.w64(c + A.CMD_SIZE, o.cmdSize ?? cmdEnd - c);
    this.w64(c + A.CMD_FLAGS, o.flags ?? 0);
    this.w64(c + A.CMD_RETURN_FLAGS, 0);
    this.w64(c + A.SEND_MSG_ADDRESS, o.msgAddress ?? m);
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
    const vecs = (o.items ?? []).filter((it) => it.type === A.ITEM_PAYLOAD_VEC);
    let i = 0;
    const end = m + this.r64(m + A.MSG_SIZE);
    for (let p = m + A.MSG_HDR; p < end; p += (this.r64(p) + 7) & ~7) {
      if (this.r64(p + A.ITEM_TYPE) !== A.ITEM_PAYLOAD_VEC) continue;
      const d = vecs[i++]?.data as U64[] | undefined;
      if (!d || BigInt(d[1]) !== ALL) continue;
      const size = this.r64(p + A.VEC_SIZE), addr = this.r64(p + A.VEC_ADDRESS);
      const src = o.host?.shift() ?? new Uint8Array(size).fill(0xab);
      this.e.u8.set(src.subarray(0, size), addr);
    }
    return this.e.sendCommit();
  }

  recv(slot: number, gen: number, flags: U64 = 0, priority: U64 = 0, size: U64 = A.RECV_CMD_SIZE) {
    const c = this.cmd;
    this.e.u8.fill(0, c, c + A.RECV_CMD_SIZE);
    this.w64(c + A.CMD_SIZE, size);
    this.w64(c + A.CMD_FLAGS, flags);
    this.w64(c + A.RECV_PRIORITY, priority);
    const r = this.e.recv(slot, gen);
    return {
      r, offset: this.r64(c + A.RECV_MSG_OFFSET), size: this.r64(c + A.RECV_MSG_SIZE),
      dropped: this.r64(c + A.RECV_DROPPED_MSGS), returnFlags: this.r64(c + A.CMD_RETURN_FLAGS),
    };
  }

  free(slot: number, gen: number, offset: U64, flags: U64 = 0, size: U64 = A.FREE_CMD_SIZE): number {
    const c = this.cmd;
    this.w64(c + A.CMD_SIZE, size);
    this.w64(c + A.CMD_FLAGS, flags);
    this.w64(c + A.FREE_OFFSET, offset);
    return this.e.free(slot, gen);
  }

  byebye(slot: number, gen: number, flags: U64 = 0, size: U64 = A.BYEBYE_CMD_SIZE): number {
    const c = this.cmd;
    this.w64(c + A.CMD_SIZE, size);
    this.w64(c + A.CMD_FLAGS, flags);
    return this.e.byebye(slot, gen);
  }

  /** Address of a slice in a connection's pool. */
  slice(slot: number, offset: number): number {
    return this.e.poolBase(slot) + offset;
  }
}
