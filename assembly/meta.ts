// meta: the metadata a message carries: what the sender lets receivers see (attach_send)
// and the receiver wants (attach_recv), bit by bit. Collected once per message, before any
// lock is taken: the process items (creds … audit) into the sending thread's meta block
// (THREAD_META), where they stay while the provider's epoch does not move, so the common
// path costs one import call (meta_epoch_get); TIMESTAMP into the thread's scratch; owned
// names into THREAD_META_NAMES. Written into the slice as items by metaWrite.
//
// An item the provider reports unsupported (a non-zero errno), or whose value is longer than
// its cap (js/shared/meta-limits.ts), is left out, never made up. CMDLINE arrives already
// capped to whole arguments (the host's args_sizes_get / args_get).
//
// The same meta block holds a connection's HELLO-time snapshot (BUS_METAS, one per slot) and
// the bus creator's (taken at BUS_MAKE): CONN_INFO and BUS_CREATOR_INFO copy from it (info.ts).
import * as A from "../js/shared/abi";
import * as L from "../js/shared/meta-limits";
import { ld32, ld8, st32, st64, copy, fill, aAdd } from "./mem";
import { clock_time_get, creds_get, pids_get, groups_get, comm_get, exe_get, cgroup_get, caps_get,
  seclabel_get, audit_get, args_sizes_get, args_get, cmdline_size_get, meta_epoch_get } from "./host";
import { align8 } from "./items";
import { namesOwnedBy, ownedCut } from "./owned";

const H: u32 = A.BUS_BASE;
// the message's per-message metadata in the thread's scratch
const META_SEQ: u32 = 64; // TIMESTAMP payload: seqnum, monotonic, realtime
const META_MONO: u32 = 72;
const META_REAL: u32 = 80;
const META_NAMES_LEN: u32 = 88; // bytes of OWNED_NAME items at THREAD_META_NAMES
const META_NAMES_CUT: u32 = 92; // ATTACH_NAMES when the OWNED_NAME list was cut, else 0
const META_GOT: u32 = 96; // (scratch, as the four above) the attach bits metaCollect collected for the message in progress: a broadcast's receivers get no more
// import out-parameters (n, len, argc / size) in a meta block's reserved header bytes
const META_TMP: u32 = 96;
/** CAPS payload cap: u32 last_cap + 4 sets of META_CAPS_WORDS_MAX words */
const CAPS_MAX: u32 = 4 + 16 * L.META_CAPS_WORDS_MAX;

/** The items a message from `c` to `d` carries (the receiver's mask is read unlocked: a change applies from the next message on). */
export function metaMask(c: u32, d: u32): u32 {
  return ld32(c + A.CONN_ATTACH_SEND) & ld32(d + A.CONN_ATTACH_RECV) & A.ATTACH_IMPLEMENTED;
}

/** Offset of attach bit `bit`'s item slot in a meta block's items; 0xffffffff: not a process item. */
function metaSlot(bit: u32): u32 {
  if (bit == A.ATTACH_CREDS) return A.META_SLOT_CREDS;
  if (bit == A.ATTACH_PIDS) return A.META_SLOT_PIDS;
  if (bit == A.ATTACH_AUXGROUPS) return A.META_SLOT_AUXGROUPS;
  if (bit == A.ATTACH_TID_COMM) return A.META_SLOT_TID_COMM;
  if (bit == A.ATTACH_PID_COMM) return A.META_SLOT_PID_COMM;
  if (bit == A.ATTACH_EXE) return A.META_SLOT_EXE;
  if (bit == A.ATTACH_CMDLINE) return A.META_SLOT_CMDLINE;
  if (bit == A.ATTACH_CGROUP) return A.META_SLOT_CGROUP;
  if (bit == A.ATTACH_CAPS) return A.META_SLOT_CAPS;
  if (bit == A.ATTACH_SECLABEL) return A.META_SLOT_SECLABEL;
  if (bit == A.ATTACH_AUDIT) return A.META_SLOT_AUDIT;
  return 0xffffffff;
}

/** Bit number n of a one-bit mask. */
function bitIndex(bit: u32): u32 {
  let n: u32 = 0;
  while (n < 31 && u32(1 << n) != bit) n++;
  return n;
}

/** Size of the item for attach bit `bit` in meta block `b` (0: left out). */
export function metaItemSize(b: u32, bit: u32): u32 {
  return ld32(b + A.META_SIZES + bitIndex(bit) * 4);
}

/**
 * A string item's size from an import's result: the string (NUL included, `len` bytes) must
 * fit its cap, be non-empty and end with its NUL; else 0 (left out).
 */
function strItem(r: i32, s: u32, cap: u32, lenOut: u32): u32 {
  if (r != 0) return 0;
  const len = ld32(lenOut);
  if (len == 0 || len > cap || ld8(s + A.ITEM_HDR + len - 1) != 0) return 0;
  return u32(A.ITEM_HDR + len);
}

/** metaFetch's item was cut (CMDLINE longer than its caps): a scratch result, set by metaFetch before it is read */
let fetchCut: bool = false;

/** Ask the provider for the item of attach bit `bit` into slot `s` (its header included): the item's size, 0 to leave it out. */
function metaFetch(bit: u32, s: u32, tmp: u32, argv: u32): u32 {
  const p = s + A.ITEM_HDR;
  if (bit == A.ATTACH_CREDS) return creds_get(p) == 0 ? u32(A.CREDS_ITEM_SIZE) : 0;
  if (bit == A.ATTACH_PIDS) return pids_get(p) == 0 ? u32(A.PIDS_ITEM_SIZE) : 0;
  if (bit == A.ATTACH_AUXGROUPS) {
    if (groups_get(p, L.META_GROUPS_MAX, tmp) != 0) return 0;
    const n = ld32(tmp);
    return n > u32(L.META_GROUPS_MAX) ? 0 : u32(A.ITEM_HDR + n * 8);
  }
  if (bit == A.ATTACH_TID_COMM) return strItem(comm_get(0, p, L.META_COMM_MAX, tmp), s, L.META_COMM_MAX, tmp);
  if (bit == A.ATTACH_PID_COMM) return strItem(comm_get(1, p, L.META_COMM_MAX, tmp), s, L.META_COMM_MAX, tmp);
  if (bit == A.ATTACH_EXE) return strItem(exe_get(p, L.META_EXE_MAX, tmp), s, L.META_EXE_MAX, tmp);
  if (bit == A.ATTACH_CGROUP) return strItem(cgroup_get(p, L.META_CGROUP_MAX, tmp), s, L.META_CGROUP_MAX, tmp);
  if (bit == A.ATTACH_SECLABEL) return strItem(seclabel_get(p, L.META_SECLABEL_MAX, tmp), s, L.META_SECLABEL_MAX, tmp);
  if (bit == A.ATTACH_CMDLINE) {
    // the host caps the command line to whole arguments; anything else is refused
    if (args_sizes_get(tmp, tmp + 4) != 0) return 0;
    const argc = ld32(tmp), size = ld32(tmp + 4);
    if (argc == 0 || argc > u32(L.META_CMDLINE_ARGS_MAX) || size == 0 || size > u32(L.META_CMDLINE_MAX)) return 0;
    if (args_get(argv, p) != 0 || ld8(p + size - 1) != 0) return 0;
    // cut: the full command line has more arguments or bytes than the capped one
    fetchCut = cmdline_size_get(tmp, tmp + 4) == 0 && (ld32(tmp) > argc || ld32(tmp + 4) > size);
    return u32(A.ITEM_HDR + size);
  }
  if (bit == A.ATTACH_CAPS) {
    if (caps_get(p, CAPS_MAX, tmp) != 0) return 0;
    const len = ld32(tmp);
    if (len < 4 || len > CAPS_MAX) return 0;
    // four sets of ceil((last_cap + 1) / 32) words each (else left out), the bits above
    // last_cap clear, as kdbus's were (a provider's own answer passed them on before stop 55:
    // capabilities that do not exist, an outside audit)
    const last = ld32(p), words = (len - 4) >> 4;
    if (((len - 4) & 15) != 0 || words == 0 || last >= words * 32 || last < (words - 1) * 32) return 0;
    const used = (last + 1) & 31; // bits of the last word that exist (0: all 32)
    if (used != 0) {
      for (let k: u32 = 0; k < 4; k++) {
        const w = p + 4 + (k * words + words - 1) * 4;
        st32(w, ld32(w) & (u32(1 << used) - 1));
      }
    }
    return u32(A.ITEM_HDR + len);
  }
  if (bit == A.ATTACH_AUDIT) return audit_get(p) == 0 ? u32(A.AUDIT_ITEM_SIZE) : 0;
  return 0;
}

/**
 * Make meta block `b` hold the process items of `mask` as the provider reports them now:
 * items collected under the provider's current epoch are kept, the others asked for (an
 * epoch that moved, or a provider without one, starts over). `argv`: 1 KiB for args_get's
 * pointers. No lock is held: the block is the caller's own (its thread's, or the creator's
 * before the bus exists).
 */
export function metaCollectProcess(b: u32, mask: u32, argv: u32): void {
  const want = mask & A.ATTACH_PROCESS;
  if (want == 0) return;
  const tmp = b + META_TMP;
  const cached = meta_epoch_get(tmp) == 0;
  const epoch = ld32(tmp);
  if (!cached || ld32(b + A.META_CACHED) == 0 || ld32(b + A.META_EPOCH) != epoch) {
    st32(b + A.META_HAVE, 0);
    st32(b + A.META_CUT, 0);
    st32(b + A.META_EPOCH, epoch);
    st32(b + A.META_CACHED, cached ? 1 : 0);
  }
  const need = want & ~ld32(b + A.META_HAVE);
  if (need == 0) return;
  let cut = u32(ld32(b + A.META_CUT) & ~need);
  for (let n: u32 = 0; n < 14; n++) {
    const bit = u32(1 << n);
    if ((need & bit) == 0) continue;
    const s = b + A.META_ITEMS + metaSlot(bit);
    fetchCut = false;
    let size = metaFetch(bit, s, tmp, argv);
    if (size != 0 && fetchCut) cut = u32(cut | bit);
    if (size != 0) {
      st64(s + A.ITEM_SIZE, size, 0);
      st64(s + A.ITEM_TYPE, A.ITEM_TIMESTAMP + n, 0);
      fill(s + size, 0, align8(size) - size);
    }
    st32(b + A.META_SIZES + n * 4, size);
  }
  st32(b + A.META_HAVE, u32(ld32(b + A.META_HAVE) | need));
  st32(b + A.META_CUT, cut);
}

/** Forget what meta block `b` holds (a thread joins its slot: the next provider is another). */
export function metaForget(b: u32): void {
  st32(b + A.META_HAVE, 0);
  st32(b + A.META_CACHED, 0);
  st32(b + A.META_CUT, 0);
}

/**
 * Take a sequence number for the next message thread `t` writes: metaCollect's, and each
 * message of a batch after its first (send-batch.ts: every message its own number, the rest
 * of the metadata collected once).
 */
export function metaNextSeq(t: u32): void {
  const seqLo = u32(aAdd(H + A.BUS_SEQNUM, 1) + 1);
  if (seqLo == 0) aAdd(H + A.BUS_SEQNUM + 4, 1);
  st64(t + A.THREAD_SCRATCH + META_SEQ, seqLo, ld32(H + A.BUS_SEQNUM + 4));
}

/**
 * A bus notification's TIMESTAMP payload (seqnum, monotonic ns, realtime ns: 24 bytes) taken
 * by thread `t` into `to`: once for all the notification's receivers, as kdbus staged a
 * notification once (notify.ts keeps it where its walk, resumed or taken over, finds it).
 */
export function metaStampInto(t: u32, to: u32): void {
  metaNextSeq(t);
  copy(to, t + A.THREAD_SCRATCH + META_SEQ, 8);
  // (after the command committed: a provider that fails here reads as no clock, A.CLOCK_PRECISION_COMMITTED)
  if (clock_time_get(1, A.CLOCK_PRECISION_COMMITTED, to + 8) != 0) st64(to + 8, 0, 0);
  if (clock_time_get(0, A.CLOCK_PRECISION_COMMITTED, to + 16) != 0) st64(to + 16, 0, 0);
}

/**
 * Take the message's sequence number and collect the items of `mask` for thread `t`, all but
 * the owned names (metaNames, under the bus lock; none until then). No lock needed.
 * `precision`: clock_time_get's (A.CLOCK_PRECISION_COMMITTED after the command committed).
 */
export function metaCollect(t: u32, mask: u32, precision: u32 = 0): void {
  const meta = t + A.THREAD_SCRATCH;
  metaNextSeq(t);
  if ((mask & A.ATTACH_TIMESTAMP) != 0) {
    if (clock_time_get(1, precision, meta + META_MONO) != 0) st64(meta + META_MONO, 0, 0);
    if (clock_time_get(0, precision, meta + META_REAL) != 0) st64(meta + META_REAL, 0, 0);
  }
  metaCollectProcess(t + A.THREAD_META, mask, t + A.THREAD_META_ARGV);
  st32(meta + META_NAMES_LEN, 0);
  st32(meta + META_NAMES_CUT, 0);
  st32(meta + META_GOT, mask);
}

/**
 * A SEND by well-known name that looks its name up again (ROUTE_AGAIN) keeps the metadata its
 * first look-up collected into thread `t` (its seqnum, clocks and items: one message, one
 * collection) when the new receiver's `mask` asks for no more (true); only the owned names are
 * read again, under the bus lock. False: collect (metaCollect), the earlier bits with the new.
 */
export function metaReuse(t: u32, mask: u32): bool {
  const meta = t + A.THREAD_SCRATCH;
  if ((mask & ~ld32(meta + META_GOT)) != 0) return false;
  st32(meta + META_NAMES_LEN, 0);
  st32(meta + META_NAMES_CUT, 0);
  return true;
}

/**
 * The attach bits the last metaCollect of thread `t` collected: a broadcast collects what some
 * receiver asks for (broadcast.ts), and a receiver whose mask asks for more since gets no more
 * (its items would be another message's, or another epoch's).
 */
export function metaGot(t: u32): u32 {
  return ld32(t + A.THREAD_SCRATCH + META_GOT);
}

/**
 * The OWNED_NAME items of sender `c` into thread `t`'s THREAD_META_NAMES, after metaCollect:
 * the bus lock held (the registry's), and held until the message is written, so that the
 * names are the sender's at the moment its message is routed into the receiver's pool.
 */
export function metaNames(t: u32, c: u32): void {
  const meta = t + A.THREAD_SCRATCH;
  st32(meta + META_NAMES_LEN, namesOwnedBy(c, t + A.THREAD_META_NAMES, L.META_NAMES_MAX));
  st32(meta + META_NAMES_CUT, ownedCut ? A.ATTACH_NAMES : 0);
}

/** The TRUNCATED item's mask: the items of `mask` that were cut (meta block `b`'s, and `namesCut`, ATTACH_NAMES or 0). */
function metaCutMask(b: u32, mask: u32, namesCut: u32): u32 {
  return u32(((ld32(b + A.META_CUT) & A.ATTACH_PROCESS) | namesCut) & mask);
}

/** Size of the TRUNCATED item for `mask` (0: nothing was cut, no item). */
export function metaTruncSize(b: u32, mask: u32, namesCut: u32): u32 {
  return metaCutMask(b, mask, namesCut) != 0 ? u32(A.TRUNCATED_ITEM_SIZE) : 0;
}

/** CONN_DESCRIPTION item size of connection `c` (0: it has none). */
export function metaDescSize(c: u32): u32 {
  const n = ld32(c + A.CONN_DESC_LEN);
  return n == 0 ? 0 : u32(A.ITEM_HDR + n + 1);
}

/** Bytes of the process items of `mask` held in meta block `b`, each 8-aligned. */
export function metaBlockSize(b: u32, mask: u32): u32 {
  let n: u32 = 0;
  const m = mask & A.ATTACH_PROCESS;
  if (m == 0) return 0;
  for (let i: u32 = 0; i < 14; i++) {
    if ((m & u32(1 << i)) != 0) n += align8(ld32(b + A.META_SIZES + i * 4));
  }
  return n;
}

/** Bytes of the metadata items of `mask` collected for thread `t` (sender `c`). */
export function metaSize(t: u32, c: u32, mask: u32): u32 {
  let n: u32 = 0;
  if ((mask & A.ATTACH_TIMESTAMP) != 0) n += A.TIMESTAMP_ITEM_SIZE;
  n += metaBlockSize(t + A.THREAD_META, mask);
  if ((mask & A.ATTACH_NAMES) != 0) n += ld32(t + A.THREAD_SCRATCH + META_NAMES_LEN);
  if ((mask & A.ATTACH_CONN_DESCRIPTION) != 0) n += align8(metaDescSize(c));
  return n + metaTruncSize(t + A.THREAD_META, mask, ld32(t + A.THREAD_SCRATCH + META_NAMES_CUT));
}

/**
 * Write, at `w`, the items of `mask` of attach bits `lo` .. `hi` held in meta block `b`, in
 * bit order; returns the end.
 */
function metaBlockWrite(w: u32, b: u32, mask: u32, lo: u32, hi: u32): u32 {
  for (let i = lo; i <= hi; i++) {
    const bit = u32(1 << i);
    if ((mask & bit & A.ATTACH_PROCESS) == 0) continue;
    const size = ld32(b + A.META_SIZES + i * 4);
    if (size == 0) continue;
    copy(w, b + A.META_ITEMS + metaSlot(bit), align8(size));
    w += align8(size);
  }
  return w;
}

/** Write connection `c`'s CONN_DESCRIPTION item at `w` if `mask` asks for it; returns the end. */
export function metaDescWrite(w: u32, c: u32, mask: u32): u32 {
  const size = metaDescSize(c);
  if ((mask & A.ATTACH_CONN_DESCRIPTION) == 0 || size == 0) return w;
  st64(w + A.ITEM_SIZE, size, 0);
  st64(w + A.ITEM_TYPE, A.ITEM_CONN_DESCRIPTION, 0);
  copy(w + A.ITEM_HDR, c + A.CONN_DESC, size - A.ITEM_HDR);
  fill(w + size, 0, align8(size) - size);
  return w + align8(size);
}

/**
 * Write items of `mask` from meta block `b`, owned-name items (`names`, `namesLen` bytes;
 * `namesCut`: ATTACH_NAMES when the list was cut) and connection `c`'s description at `w`, in
 * kdbus item order (the attach bit's), then the TRUNCATED item when something was cut; returns the end.
 */
export function metaItemsWrite(w: u32, b: u32, mask: u32, names: u32, namesLen: u32, namesCut: u32, c: u32): u32 {
  w = metaBlockWrite(w, b, mask, 1, 3);
  if ((mask & A.ATTACH_NAMES) != 0 && namesLen != 0) {
    copy(w, names, namesLen);
    w += namesLen;
  }
  w = metaBlockWrite(w, b, mask, 5, 12);
  w = metaDescWrite(w, c, mask);
  const cut = metaCutMask(b, mask, namesCut);
  if (cut == 0) return w;
  st64(w + A.ITEM_SIZE, A.TRUNCATED_ITEM_SIZE, 0);
  st64(w + A.ITEM_TYPE, A.ITEM_TRUNCATED, 0);
  st64(w + A.ITEM_HDR, cut, 0);
  return w + A.TRUNCATED_ITEM_SIZE;
}

/** Write the metadata items collected in thread `t`'s scratch and meta block at `w` (sender `c`); returns the end. */
export function metaWrite(w: u32, t: u32, c: u32, mask: u32): u32 {
  const meta = t + A.THREAD_SCRATCH;
  if ((mask & A.ATTACH_TIMESTAMP) != 0) {
    st64(w + A.ITEM_SIZE, A.TIMESTAMP_ITEM_SIZE, 0);
    st64(w + A.ITEM_TYPE, A.ITEM_TIMESTAMP, 0);
    copy(w + A.ITEM_HDR, meta + META_SEQ, 24);
    w += A.TIMESTAMP_ITEM_SIZE;
  }
  return metaItemsWrite(w, t + A.THREAD_META, mask, t + A.THREAD_META_NAMES, ld32(meta + META_NAMES_LEN), ld32(meta + META_NAMES_CUT), c);
}
