// linked-set: an ordered set of objects that carry their own links, for the sets that every
// call or wait joins and leaves (a connection's waiters, the reply pump's waiting calls, the
// deadlines of parked waits).
//
// Why not a Set: V8 keeps a Set's (or a Map's) entries in a hash table that it replaces with a
// new one as entries come and go (a rehash every few dozen adds under churn), and the table
// replaced keeps its entries and a pointer to its successor. Once a table was old enough to be
// promoted (a set left alone for two young collections: between bursts, at start-up), every
// table that replaces it afterwards, and every object in them (calls, their messages, promises),
// stays reachable from that dead old table until the next full collection: each young
// collection copied and promoted them. Measured with 100 call()s in flight between two threads
// (stop 58): 3–7 MB promoted per young collection, pauses of 13–20 ms every 80–100 ms on the
// caller's thread (0.3–0.9 ms with one call in flight), in Node 20 and Chromium 156 alike.
// A linked set allocates nothing to add or delete, and nothing it held survives it.
//
// An object is in at most one LinkedSet at a time (its links are its own: `linkIn` says which).

/** The links an object carries to be in a LinkedSet; initialise all three (to null) in its constructor or literal. */
export interface Linked {
  linkPrev: Linked | null;
  linkNext: Linked | null;
  /** the set it is in, or null */
  linkIn: object | null;
}

/** The three link fields, unset: spread into a literal (`{ ...UNLINKED, ... }`) or assigned in a constructor. */
export const UNLINKED: Linked = Object.freeze({ linkPrev: null, linkNext: null, linkIn: null }) as Linked;

/**
 * Insertion-ordered; add, delete and has are O(1) and allocate nothing. Iterating (for...of)
 * walks a copy of the members taken when it starts, skipping those deleted before they are
 * reached (a Set's iterator would also visit those added meanwhile: none of our loops adds).
 * A hot loop whose body adds or deletes nothing walks the links itself:
 * `for (let x = set.first; x !== null; x = x.linkNext as T | null)`.
 */
export class LinkedSet<T extends Linked> {
  /** the first member (oldest), or null */
  first: T | null = null;
  private last: T | null = null;
  size = 0;

  has(x: T): boolean { return x.linkIn === this; }

  /** Add `x` at the end (nothing when it is a member already). An object in another LinkedSet is a bug: it throws. */
  add(x: T): this {
    if (x.linkIn === this) return this;
    if (x.linkIn !== null) throw new Error('internal: an object in one LinkedSet added to another');
    x.linkIn = this;
    x.linkPrev = this.last;
    x.linkNext = null;
    if (this.last !== null) this.last.linkNext = x;
    else this.first = x;
    this.last = x;
    this.size++;
    return this;
  }

  /**
   * Remove `x`; false when it was not a member. Its links are cleared: a member that left
   * keeps no other alive (an old object pointing at young ones would keep them, and what they
   * point at, through every young collection: the very thing this module is for).
   */
  delete(x: T): boolean {
    if (x.linkIn !== this) return false;
    const prev = x.linkPrev as T | null, next = x.linkNext as T | null;
    if (prev !== null) prev.linkNext = next;
    else this.first = next;
    if (next !== null) next.linkPrev = prev;
    else this.last = prev;
    x.linkIn = null;
    x.linkPrev = null;
    x.linkNext = null;
    this.size--;
    return true;
  }

  /** Remove every member. */
  clear(): void {
    for (let x = this.first; x !== null;) {
      const next = x.linkNext as T | null;
      x.linkIn = null;
      x.linkPrev = null;
      x.linkNext = null;
      x = next;
    }
    this.first = this.last = null;
    this.size = 0;
  }

  /** The members in order, as an array of their own (for loops whose body may add or delete). */
  toArray(): T[] {
    const out: T[] = [];
    for (let x = this.first; x !== null; x = x.linkNext as T | null) out.push(x);
    return out;
  }

  *[Symbol.iterator](): Generator<T, void, undefined> {
    for (const x of this.toArray()) if (x.linkIn === this) yield x;
  }
}
