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
// (OP_BCAST: a reservation, which recovery must find in the slot). Set aside (since stop 69),
// it gives that reservation back: its host vecs' bytes are copied out of the staging slice with
// the rest, the command's host vecs marked as such again, and send_cancel frees the slice (the
// engine, at once). To go on, SEND stages it again (a new slice, the bytes copied in), and the
// words, scratch and metadata block are copied back before send_commit, which goes on at
// op_from with the metadata collected the first time (one seqnum for every receiver). While it
// is aside the core sees a thread with no op, as for an in-memory one: nothing to recover.
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
  /**
   * a staged broadcast's (OP_BCAST): each host vec of the command's message, its item's address
   * (in the command area) and its bytes, copied out of the staging slice; null for an
   * in-memory one
   */
  readonly hostVecs: { readonly item: number; readonly bytes: Uint8Array }[] | null;
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
    hostVecs: null,
  };
  u32[(t + A.THREAD_BCAST_SKIP) >>> 2] = 0;
  Atomics.store(u32, (t + A.THREAD_OP) >>> 2, A.OP_NONE);
  return p;
}

/**
 * The staged broadcast thread slot `t` stopped at a lock (OP_BCAST, its send_commit returned
 * WOULDBLOCK with BCAST_WAITING), copied out with its host vecs' bytes (from the staging
 * slice, where the command's host vecs point since its SEND); null (nothing changed) when the
 * thread's op is not such a stop. Its reservation stays: the caller cancels it (send_cancel).
 */
export function parkSaveStaged(u8: Uint8Array, u32: Uint32Array, t: number, reuse: ParkedBroadcast | null): ParkedBroadcast | null {
  if (Atomics.load(u32, (t + A.THREAD_OP) >>> 2) !== A.OP_BCAST) return null;
  if (u32[(t + A.THREAD_BCAST_SKIP) >>> 2] !== A.BCAST_WAITING) return null;
  const cmd = t + A.THREAD_CMD;
  const block = u32[(t + A.THREAD_OP_BLOCK) >>> 2]!, blockEnd = block + u32[(block + A.BLOCK_SIZE) >>> 2]!;
  const msg = u32[(cmd + A.SEND_MSG_ADDRESS) >>> 2]!, msgEnd = msg + u32[(msg + A.MSG_SIZE) >>> 2]!;
  // (`reuse`: the broadcast this try went on with, set aside again: the same command and bytes,
  // not copied again; every try copied the whole payload out, a review of stop 69)
  const hostVecs: { item: number; bytes: Uint8Array }[] = reuse?.hostVecs ?? [];
  for (let i = msg + A.MSG_HDR; reuse === null && i < msgEnd; i += (u32[(i + A.ITEM_SIZE) >>> 2]! + 7) & ~7) {
    if (u32[(i + A.ITEM_TYPE) >>> 2] !== A.ITEM_PAYLOAD_VEC) continue;
    const at = u32[(i + A.VEC_ADDRESS) >>> 2]!, size = u32[(i + A.VEC_SIZE) >>> 2]!;
    // (a host vec: SEND pointed it at its bytes in the staging slice; a vec of bytes in shared
    // memory points elsewhere, and its bytes are in the command area copied out with it)
    if (u32[(i + A.VEC_ADDRESS + 4) >>> 2] === 0 && at >= block && at < blockEnd) hostVecs.push({ item: i, bytes: u8.slice(at, at + size) });
  }
  const p: ParkedBroadcast = {
    slot: u32[(t + A.THREAD_OP_CONN) >>> 2]!, gen: u32[(t + A.THREAD_OP_GEN) >>> 2]!,
    from: u32[(t + A.THREAD_OP_FROM) >>> 2]!,
    waitIndex: u32[(t + A.THREAD_WAIT_ADDR) >>> 2]! >>> 2, waitValue: u32[(t + A.THREAD_WAIT_VAL) >>> 2]!,
    words: Uint32Array.from(WORDS, (w) => u32[(t + w) >>> 2]),
    scratch: u8.slice(t + A.THREAD_SCRATCH, t + A.THREAD_SCRATCH + A.THREAD_SCRATCH_SIZE),
    cmd: reuse?.cmd ?? u8.slice(cmd, cmd + A.CMD_MAX),
    meta: u8.slice(t + A.THREAD_META, t + A.THREAD_DEFER),
    hostVecs,
  };
  u32[(t + A.THREAD_BCAST_SKIP) >>> 2] = 0;
  return p;
}

/** Staged broadcast `p`'s SEND back into thread slot `t`'s command area, its host vecs marked as such again (the op must be none). */
export function stagedCommand(u8: Uint8Array, u32: Uint32Array, t: number, p: ParkedBroadcast): void {
  u8.set(p.cmd, t + A.THREAD_CMD);
  for (const v of p.hostVecs!) {
    u32[(v.item + A.VEC_ADDRESS) >>> 2] = A.VEC_HOST_HALF >>> 0;
    u32[(v.item + A.VEC_ADDRESS + 4) >>> 2] = A.VEC_HOST_HALF >>> 0;
  }
}

/**
 * After that SEND staged `p` again (SEND_PENDING): its host vecs' bytes copied in, and the
 * words, scratch and metadata block copied back, so that send_commit goes on where it stopped
 * (passing over the receiver it stopped at when `skip`).
 */
export function stagedRestore(u8: Uint8Array, u32: Uint32Array, t: number, p: ParkedBroadcast, skip: boolean): void {
  for (const v of p.hostVecs!) u8.set(v.bytes, u32[(v.item + A.VEC_ADDRESS) >>> 2]!);
  u8.set(p.scratch, t + A.THREAD_SCRATCH);
  u8.set(p.meta, t + A.THREAD_META);
  // (OP_CONN and OP_GEN are the new SEND's: the same sender)
  for (let i = 2; i < WORDS.length; i++) u32[(t + WORDS[i]!) >>> 2] = p.words[i]!; // (OP_FROM, the reason words)
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
