// cookie-table: a connection's pending calls by cookie (Calls.pending), without a Map.
//
// Every call() adds its entry and every end removes it. In a Map that churn rehashes the
// table every few dozen calls, and a replaced table that had been promoted keeps every later
// table, with the calls and replies in them, alive through each young collection
// (linked-set.ts says how; 100 calls in flight: 13–20 ms pauses every 80–100 ms). Here the
// table is one array that never moves but to grow: open addressing, linear probing, deletion
// by backward shift (no tombstones), a power-of-two capacity at least twice the entries. An
// entry is found by its own `cookie` (no key array); `order` keeps the order of insertion,
// which values() returns (the order calls settle in when several end at once).

/** What the table holds: its key is its `cookie`, and it carries the table's insertion stamp. */
export interface Keyed {
  readonly cookie: number;
  /** insertion order (set by the table) */
  order: number;
}

const MIN_BITS = 4;

export class CookieTable<V extends Keyed> {
  private slots: (V | null)[];
  private bits = MIN_BITS;
  private mask: number;
  private stamp = 0;
  size = 0;

  constructor() {
    this.slots = new Array<V | null>(1 << MIN_BITS).fill(null);
    this.mask = (1 << MIN_BITS) - 1;
  }

  /** a cookie's home slot: its 64 bits (a number exact to 2^53) folded to 32, multiplied by 2^32 / phi */
  private home(cookie: number): number {
    const h = Math.imul((cookie >>> 0) ^ ((cookie / 4294967296) >>> 0), 0x9e3779b1);
    return h >>> (32 - this.bits);
  }

  get(cookie: number): V | undefined {
    const slots = this.slots, mask = this.mask;
    for (let i = this.home(cookie); ; i = (i + 1) & mask) {
      const v = slots[i];
      if (v === null) return undefined;
      if (v.cookie === cookie) return v;
    }
  }

  has(cookie: number): boolean { return this.get(cookie) !== undefined; }

  /** Add `v` under its cookie (replacing an entry with the same cookie). */
  set(v: V): void {
    if ((this.size + 1) * 2 > this.slots.length) this.grow();
    const slots = this.slots, mask = this.mask, cookie = v.cookie;
    v.order = this.stamp++;
    for (let i = this.home(cookie); ; i = (i + 1) & mask) {
      const cur = slots[i];
      if (cur === null) { slots[i] = v; this.size++; return; }
      if (cur.cookie === cookie) { slots[i] = v; return; }
    }
  }

  /** Remove the entry of `cookie`; false when there was none. */
  delete(cookie: number): boolean {
    const slots = this.slots, mask = this.mask;
    let i = this.home(cookie);
    for (;; i = (i + 1) & mask) {
      const v = slots[i];
      if (v === null) return false;
      if (v.cookie === cookie) break;
    }
    // backward shift: each later entry of the run that may sit in the hole does
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const v = slots[j];
      if (v === null) break;
      const h = this.home(v.cookie);
      // v stays where it is when its home lies cyclically in (i, j]
      if (i <= j ? (i < h && h <= j) : (i < h || h <= j)) continue;
      slots[i] = v;
      i = j;
    }
    slots[i] = null;
    this.size--;
    return true;
  }

  clear(): void {
    this.slots.fill(null);
    this.size = 0;
  }

  /** The entries in insertion order, as an array of their own. */
  values(): V[] {
    const out: V[] = [];
    for (const v of this.slots) if (v !== null) out.push(v);
    return out.sort((a, b) => a.order - b.order);
  }

  /** The slots, for a loop over the entries in no set order whose body adds and deletes nothing (null: an empty slot). */
  get unordered(): readonly (V | null)[] { return this.slots; }

  private grow(): void {
    const old = this.slots;
    this.bits++;
    this.slots = new Array<V | null>(1 << this.bits).fill(null);
    this.mask = (1 << this.bits) - 1;
    for (const v of old) {
      if (v === null) continue;
      for (let i = this.home(v.cookie); ; i = (i + 1) & this.mask) {
        if (this.slots[i] === null) { this.slots[i] = v; break; }
      }
    }
  }
}
