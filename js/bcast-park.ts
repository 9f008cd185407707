// bcast-park: an in-memory broadcast set aside where it stopped, so that its thread's event
// loop runs on (emitAsync's broadcast: js/bcast-async.ts).
//
// A broadcast whose payload is in the command area (OP_BCAST_MEM, assembly/broadcast.ts)
// stops at a receiver whose lock another thread holds: it returns WOULDBLOCK with its place
// (op_from), and the host waits on that lock and runs SEND again, which goes on from there.
// emit() waits blocking, up to LOCK_WAIT_MS per receiver whose lock stays taken. From an
// event loop the thread must run other commands while it waits, and every one of them
// writes the thread slot the broadcast goes on from. So what it goes on from is copied out
// here, and the thread's op is set back to none (the core holds nothing meanwhile: an
// in-memory broadcast reserves nothing and holds no lock while its host waits), and copied
// back just before SEND runs again:
//
//   thread slot                         what a resumed broadcast reads there
//   ┌───────────────────────────────┐
//   │ OP (OP_BCAST_MEM)              │  set again at the resume
//   │ OP_CONN, OP_GEN, OP_FROM       │  the sender's slot and generation, its next position
//   │ REASON, REASON_ARG             │  the SEND's reason words, kept through a broadcast
//   │ BCAST_SKIP                     │  BCAST_WAITING, or BCAST_SKIP to pass the receiver over
//   ├───────────────────────────────┤
//   │ SCRATCH (184 bytes)            │  the message's seqnum, clocks, collected attach bits,
//   │                               │  owned names' length (meta.ts): collected once
//   ├───────────────────────────────┤
//   │ CMD (CMD_MAX bytes)            │  the SEND command, the message and its payload
//   ├───────────────────────────────┤
//   │ META .. DEFER                  │  the metadata items collected for it (THREAD_META,
//   │                               │  its argv pointers, THREAD_META_NAMES)
//   └───────────────────────────────┘
//
// The metadata block is also the thread's cache of the provider's items, keyed by the
// provider's epoch stored in it: copied back whole, it is the cache as it was at the
// broadcast's first try, with that epoch, which the next command checks as always.
// A broadcast with host vecs (larger than the command area) is staged in the sender's pool
// (OP_BCAST: a reservation, stage.ts). Set aside (since stop 70), its staging slice moves from
// the thread slot to the sender's connection record (send_aside, assembly/aside.ts): the
// message and its payload stay there, and the thread's op is none. Only the scratch, metadata
// block and reason words are copied out here; to go on, send_resume makes the slice the
// thread's op again, they are copied back, and send_commit goes on at op_from with the metadata
// collected the first time (one seqnum for every receiver). (Stop 69 copied the payload out,
// gave the slice back, and staged it again at each try.)
import * as A from './shared/abi.ts';

/** The op words copied out and back (the op itself and BCAST_SKIP are set at the resume). */
const WORDS = [A.THREAD_OP_CONN, A.THREAD_OP_GEN, A.THREAD_OP_FROM, A.THREAD_REASON, A.THREAD_REASON_ARG] as const;

/** An in-memory broadcast stopped at a contended lock, set aside by parkSave. */
export interface ParkedBroadcast {
  /** the sender's connection slot and generation (SEND's arguments) */
  readonly slot: number;
  readonly gen: number;
  /** where it stopped (op_from: a position, with BCAST_MET) */
  readonly from: number;
  /** the lock word it stopped at (an index in u32) and the value the core saw in it */
  readonly waitIndex: number;
  readonly waitValue: number;
  readonly words: Uint32Array;
  readonly scratch: Uint8Array;
  readonly cmd: Uint8Array;
  readonly meta: Uint8Array;
  /** a staged broadcast's (OP_BCAST), its slice set aside in its sender's connection (`cmd` is then empty: its message is in the slice) */
  readonly staged: boolean;
}

/**
 * The in-memory broadcast thread slot `t` stopped at a lock (OP_BCAST_MEM, BCAST_WAITING),
 * copied out, and the slot's op set back to none; null (nothing changed) when the thread's
 * op is not such a stop.
 */
export function parkSave(u8: Uint8Array, u32: Uint32Array, t: number, slot: number, gen: number): ParkedBroadcast | null {
  if (Atomics.load(u32, (t + A.THREAD_OP) >>> 2) !== A.OP_BCAST_MEM) return null;
  if (u32[(t + A.THREAD_BCAST_SKIP) >>> 2] !== A.BCAST_WAITING) return null;
  const waitIndex = u32[(t + A.THREAD_WAIT_ADDR) >>> 2] >>> 2;
  const p: ParkedBroadcast = {
    slot, gen, from: u32[(t + A.THREAD_OP_FROM) >>> 2]!, waitIndex, waitValue: u32[(t + A.THREAD_WAIT_VAL) >>> 2]!,
    words: Uint32Array.from(WORDS, (w) => u32[(t + w) >>> 2]),
    scratch: u8.slice(t + A.THREAD_SCRATCH, t + A.THREAD_SCRATCH + A.THREAD_SCRATCH_SIZE),
    cmd: u8.slice(t + A.THREAD_CMD, t + A.THREAD_CMD + A.CMD_MAX),
    meta: u8.slice(t + A.THREAD_META, t + A.THREAD_DEFER),
    staged: false,
  };
  u32[(t + A.THREAD_BCAST_SKIP) >>> 2] = 0;
  Atomics.store(u32, (t + A.THREAD_OP) >>> 2, A.OP_NONE);
  return p;
}

/**
 * The staged broadcast thread slot `t` stopped at a lock (OP_BCAST, its send_commit returned
 * WOULDBLOCK with BCAST_WAITING): what its delivery collected, copied out; null (nothing
 * changed) when the thread's op is not such a stop. Its slice stays the thread's op: the caller
 * sets it aside (send_aside).
 */
export function parkSaveStaged(u8: Uint8Array, u32: Uint32Array, t: number): ParkedBroadcast | null {
  if (Atomics.load(u32, (t + A.THREAD_OP) >>> 2) !== A.OP_BCAST) return null;
  if (u32[(t + A.THREAD_BCAST_SKIP) >>> 2] !== A.BCAST_WAITING) return null;
  const p: ParkedBroadcast = {
    slot: u32[(t + A.THREAD_OP_CONN) >>> 2]!, gen: u32[(t + A.THREAD_OP_GEN) >>> 2]!,
    from: u32[(t + A.THREAD_OP_FROM) >>> 2]!,
    waitIndex: u32[(t + A.THREAD_WAIT_ADDR) >>> 2]! >>> 2, waitValue: u32[(t + A.THREAD_WAIT_VAL) >>> 2]!,
    words: Uint32Array.from(WORDS, (w) => u32[(t + w) >>> 2]),
    scratch: u8.slice(t + A.THREAD_SCRATCH, t + A.THREAD_SCRATCH + A.THREAD_SCRATCH_SIZE),
    cmd: EMPTY,
    meta: u8.slice(t + A.THREAD_META, t + A.THREAD_DEFER),
    staged: true,
  };
  u32[(t + A.THREAD_BCAST_SKIP) >>> 2] = 0;
  return p;
}
const EMPTY = new Uint8Array(0);

/**
 * After send_resume made staged broadcast `p` the thread's op again: its scratch, metadata
 * block and reason words copied back, so that send_commit goes on where it stopped (op_from,
 * kept with the slice), passing over the receiver it stopped at when `skip`.
 */
export function stagedRestore(u8: Uint8Array, u32: Uint32Array, t: number, p: ParkedBroadcast, skip: boolean): void {
  u8.set(p.scratch, t + A.THREAD_SCRATCH);
  u8.set(p.meta, t + A.THREAD_META);
  for (let i = 3; i < WORDS.length; i++) u32[(t + WORDS[i]!) >>> 2] = p.words[i]!; // (the reason words)
  u32[(t + A.THREAD_BCAST_SKIP) >>> 2] = skip ? A.BCAST_SKIP : A.BCAST_WAITING;
}

/**
 * Copy broadcast `p` back into thread slot `t`, its op OP_BCAST_MEM again: the next SEND goes
 * on where it stopped, passing over the receiver it stopped at when `skip` (that receiver's
 * loss counted), else waiting for it again. The slot's op must be none.
 */
export function parkRestore(u8: Uint8Array, u32: Uint32Array, t: number, p: ParkedBroadcast, skip: boolean): void {
  u8.set(p.scratch, t + A.THREAD_SCRATCH);
  u8.set(p.cmd, t + A.THREAD_CMD);
  u8.set(p.meta, t + A.THREAD_META);
  for (let i = 0; i < WORDS.length; i++) u32[(t + WORDS[i]!) >>> 2] = p.words[i]!;
  u32[(t + A.THREAD_BCAST_SKIP) >>> 2] = skip ? A.BCAST_SKIP : A.BCAST_WAITING;
  Atomics.store(u32, (t + A.THREAD_OP) >>> 2, A.OP_BCAST_MEM);
}
