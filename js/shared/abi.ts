// wasmbus ABI: every constant, offset and limit that the wasm core, the TS twin and the
// host must agree on. This file is compiled by BOTH asc (assembly/) and tsc (js/): keep it
// to plain `export const NAME = <integer literal or expression of them>;` lines below 2^31
// so both compilers read the same numbers (asc types them as i32, tsc as number).
//
// Numbers, item types and flags are kdbus's (include/uapi/linux/kdbus.h, Aug 2015).
// wasmbus-only values are marked "wasmbus:".

// ---------------------------------------------------------------------------------------
// Memory map of the shared WebAssembly.Memory (absolute byte addresses)
//
//   0 ┌──────────────────────────────┐
//     │ reserved, never used         │ abort paths may write at 0
// 64K ├──────────────────────────────┤ RESERVED_END  (asc --memoryBase)
//     │ module static data           │ rewritten by every instantiation: read-only
//     │ (nothing mutable lives here) │
//  1M ├──────────────────────────────┤ BUS_BASE (host checks __heap_base <= BUS_BASE)
//     │ bus header       (BUS_SIZE)  │
//     │ thread table     n_threads × THREAD_SIZE
//     │ connection table n_conns   × CONN_SIZE
//     │ id table         buckets + links, (id_mask + 1 + n_conns) × 4   (SEND's look-up by id)
//     │ name table       NAMES_HDR + buckets × 4 + n_names × NAME_SIZE (the registry)
//     │ match table      n_matches × match_size       (matches issue)
//     │ reply table      (1 + n_replies) × REPLY_SIZE (a header record, then the records)
//     │ meta snapshots   (n_conns + 1) × META_SIZE    (one per connection, then the creator's process snapshot)
//     │ left table       n_threads × LEFT_PER_THREAD × 4 (tokens that left cleanly: watchLock)
//     │ liveness table   n_threads × LIVENESS_SIZE (16: the token of each slot's thread if it holds a liveness lock, its OS thread id, its worker_threads id)
//     │ pools            n_conns   × pool_max, each POOL_ALIGN aligned
//     │ publish maps     n_conns   × pool_max / 64 (FREE's check: 1 bit per 8 pool bytes)
//     ├──────────────────────────────┤ layout end
//     │ user region: memory the host │ PAYLOAD_VEC sources may live here
//     │ may use for its own payloads │
//     └──────────────────────────────┘ memory end (never grown)
// ---------------------------------------------------------------------------------------
export const RESERVED_END = 65536;
export const BUS_BASE = 1048576;
export const WASM_PAGE = 65536;
export const POOL_ALIGN = 4096;

export const BUS_MAGIC = 0x53554257; // "WBUS" little-endian
export const BUS_VERSION = 22; // 22: a staged broadcast set aside in its connection, and staging slices left to free there (CONN_STAGED, CONN_UNFREED: CONN_SIZE 576), which a core of 21 neither frees at a close nor counts; 21: the thread slot's join generation (THREAD_JOIN_GEN, OWED_MAX 13), which a host of 20 neither bumps nor checks and a core of 20 overwrites (owed[13]); 20: the wake word moves by the number of messages a lock hold queued (CONN_WAKE, WAKE_UNCOUNTED), where 19 moved it once for a batch: a host of 20 wakes no more waits than the word counts; 19: deferred wakes (THREAD_DEFER, THREAD_OWED: THREAD_SIZE 83392), which a core of 18 neither records nor a recovery of 18 wakes; 10: the left table (BUS_LEFT_AT, BUS_LEFT); 11: seqnum at 192, a connection's space word on its lock's line; 12: the liveness table (BUS_LIVENESS); 13: its OS thread word (LIVENESS_SIZE 8); 14: the sleepers counts' rule (a notifier takes the waits it woke off: js/host/sleepers.ts), which a host of 13 breaks (it takes itself off too); Bus.join checks it; 15: the reply table's deadline list (REPLY_T_DL_HEAD, REPLY_DL_NEXT), which a core of 14 leaves unlinked; 16: the match table's free list (BUS_MATCH_FREE, BUS_MATCH_HWM), which a core of 15 neither takes from nor fills; 17: the liveness key in the header (BUS_LIVENESS_KEY), which a joiner of 16 takes from its handle; 18: the liveness entry's worker thread word (LIVENESS_WORKER, LIVENESS_SIZE 16), which a watch of 17 does not read

// Bus header, at BUS_BASE.
//
//  0 ┌────────────┬────────────┬──────────────┬────────────┐
//    │ magic u32  │ version u32│ layout_end   │ lock u32   │  lock: holder thread slot + 1
// 16 ├────────────┼────────────┼──────────────┼────────────┤
//    │ n_threads  │ n_conns    │ pool_max     │ n_names    │  limits given at BUS_MAKE
// 32 ├────────────┼────────────┼──────────────┼────────────┤
//    │ n_matches  │ n_replies  │ match_size   │ conns_live │
// 48 ├────────────┼────────────┼──────────────┼────────────┤
//    │ threads @  │ conns @    │ names @      │ matches @  │  absolute table addresses
// 64 ├────────────┼────────────┼──────────────┼────────────┤
//    │ replies @  │ metas @    │ pools @      │ ids @      │  ids: the id table (below)
// 80 ├────────────┴────────────┼──────────────┴────────────┤
//    │ next_id u64             │ (reserved)                │  next_id: HELLO's counter
// 96 ├─────────────────────────┼───────────────────────────┤
//    │ bloom_size u64          │ bloom_n_hash u64          │
//112 ├─────────────────────────┼─────────────┬─────────────┤
//    │ bus_flags u64           │ next_token  │ id_seq      │  next_token: handles' thread tokens
//128 ├─────────────────────────┴─────────────┴─────────────┤  id_seq: see the id table
//    │ id128 [16]                                          │
//144 ├────────────┬────────────┬────────────┬────────────┤
//    │ id_mask    │ pubmaps @  │ name_seq   │ shutdown   │  id_mask: id table buckets - 1
//160 ├────────────┼────────────┬────────────┬────────────┤  name_seq: BUS_NAME_SEQ
//    │ n_monitors │ left_at    │ left @     │ liveness @ │  n_monitors: BUS_N_MONITORS
//176 ├────────────┼────────────┴────────────┴────────────┤  left_at, left, liveness: BUS_LEFT_AT, BUS_LEFT, BUS_LIVENESS
//    │ name_rules │ mfree      │ mhwm       │ (reserved) │  name_rules: BUS_NAME_RULES
//    │            │            │            │            │  mfree, mhwm: BUS_MATCH_FREE, BUS_MATCH_HWM
//192 ├────────────┴────────────┬────────────┬────────────┤
//    │ seqnum u64              │ turn_skips │ (reserved) │  seqnum: +1 per message (every
//    │                         │            │            │  sender's; a line of its own among
//    │                         │            │            │  words the receivers read: below)
//    │                         │            │            │  turn_skips: BUS_TURN_SKIPS
//208 ├─────────────────────────┬────────────┴────────────┤
//    │ liveness_key [8]        │ (reserved)              │  liveness_key: BUS_LIVENESS_KEY (the
//224 ├─────────────────────────┴─────────────────────────┤  creator's host writes it once)
//    │ (reserved)                                         │
//240 ├─────────────────────────┬────────────┬────────────┤
//    │ (reserved)              │ max_queued │ (reserved) │  max_queued: BUS_MAX_QUEUED
//256 └─────────────────────────┴────────────┴────────────┘
export const BUS_MAGIC_OFF = 0;
export const BUS_VERSION_OFF = 4;
export const BUS_LAYOUT_END = 8;
export const BUS_LOCK = 12;
export const BUS_N_THREADS = 16;
export const BUS_N_CONNS = 20;
export const BUS_POOL_MAX = 24;
export const BUS_N_NAMES = 28;
export const BUS_N_MATCHES = 32;
export const BUS_N_REPLIES = 36;
export const BUS_MATCH_SIZE = 40;
export const BUS_CONNS_LIVE = 44;
export const BUS_THREADS = 48;
export const BUS_CONNS = 52;
export const BUS_NAMES = 56;
export const BUS_MATCHES = 60;
export const BUS_REPLIES = 64;
export const BUS_METAS = 68;
export const BUS_POOLS = 72;
export const BUS_IDS = 76;
export const BUS_NEXT_ID = 80;
// seqnum: every message's sequence number (an atomic add by each sender). It shares its
// 64-byte line only with words that senders read (max_queued) or rarely bump (turn_skips):
// at 88 it sat on the line of table addresses that every RECV and FREE reads, so each send
// took that line from the receiving thread's cache and the receiver's next command took it
// back (docs/BENCHMARKS.md, stop 27: the lines a SEND, RECV and FREE touch)
export const BUS_SEQNUM = 192;
export const BUS_BLOOM_SIZE = 96;
export const BUS_BLOOM_N_HASH = 104;
export const BUS_FLAGS = 112;
export const BUS_NEXT_TOKEN = 120; // u32, taken with an atomic add by bus.handle(): unique thread tokens
export const BUS_ID_SEQ = 124; // u32, +1 (atomic add, not journaled) before a connection slot's id link is rewritten
export const BUS_ID128 = 128;
export const BUS_ID_MASK = 144; // id table bucket count - 1 (a power of two >= n_conns, minus 1)
export const BUS_PUBMAPS = 148; // the publish maps, pool_max / 64 bytes per connection slot
export const BUS_SIZE = 256;
// wasmbus: the bus was shut down (bus.shutdown()): 0, then 1 for good (an atomic store by the
// creator's host, never journaled). HELLO, SEND and RECV (but not RECV_DROP) fail with
// ESHUTDOWN; FREE, BYEBYE, thread_leave and RECOVER still work, so every thread can tidy up.
export const BUS_SHUTDOWN = 156;
// The left table: the tokens of the last n_threads × LEFT_PER_THREAD threads that left the
// bus cleanly (bus.close(); with or without a liveness lock since stop 28: a watch of a thread
// without one that had left waited for good, an outside audit), or were recovered (by
// any thread: engine.recoverThread; since stop 26, when an outside audit found watches of a
// worker that another thread recovered first polling for good). Host words: the leaver
// takes a place with an atomic add on left_at (the count of such leaves, wrapping) and
// stores its token at left[count % (n_threads × LEFT_PER_THREAD)]; BUS_MAKE lays the table
// out (zeroed) after the metadata blocks, and left (+168) is its address. bus.watchLock looks
// there for a thread it never saw joined: one that joined, left and ended between two of its
// looks leaves no other trace (its slot is free, its lock released); an outside audit, stop
// 19, found 5 of 8 such watches in Deno and 7 of 8 in Chromium never resolving. A watch misses
// it only when n_threads × LEFT_PER_THREAD other threads leave cleanly within one of its look
// intervals (at most 250 ms): more than LEFT_PER_THREAD times as many threads as the bus can
// hold at once. (A first version kept 10 tokens in the header: a second audit had 30 workers
// come and go at once and 14 watches miss theirs.)
export const BUS_LEFT_AT = 164;
export const BUS_LEFT = 168;
export const LEFT_PER_THREAD = 4;
// The liveness table: one host word per thread slot, laid out (zeroed) by BUS_MAKE after the
// left table; liveness (+172) is its address. A thread that joins holding its liveness lock
// (Web Locks: Bus.join takes it before the slot) stores its token in its slot's word right
// after thread_join; one that joins without one stores its token ^ NO_LIVENESS_LOCK (0 is
// "not written yet": the moment between the join and the store). Its clean leave stores 0
// before thread_leave, and a recovery of the slot takes the token out (a compare-exchange:
// a thread that joined the freed slot since keeps its own). bus.watchLock reads it: the grant
// of a lock that nobody holds is immediate, so watching a live thread without a lock used to
// declare it dead and recover it (an outside audit, stop 26); now such a watch ends with
// EOPNOTSUPP and the thread lives on (stop 28). Tokens are handed out in sequence from 2
// (BUS_NEXT_TOKEN): a token and another's ^ NO_LIVENESS_LOCK meet only after 2^31 handles.
//
// Each slot's entry has a second host word: the OS thread id (Linux tid, /proc/thread-self)
// of the thread that joined it, written right after the liveness word and cleared by its clean
// leave, or by the recovery of it (a compare-exchange on that tid); 0: not known (no /proc,
// or a runtime that refuses to read it: Deno without -A, a browser). A recovery asks whether
// /proc/self/task/<tid> still exists: a thread declared dead that still runs (Deno's
// node:worker_threads 'exit' comes before the worker stops) is waited for while it is inside
// a command, up to RECOVER_RUNNING_MS instead of RECOVER_BUSY_MS, and one that has stopped
// needs no wait at all (engine.ts, force; an outside audit, stop 31: a Deno worker descheduled
// for more than 100 ms in the middle of a command after terminate() was recovered under it,
// and the bus's name registry and a monitor's queue were left broken, 2 runs in 21 under load).
//
// A third host word (since BUS_VERSION 18): the node:worker_threads threadId + 1 of the thread
// that joined (1: a process's main thread; LIVENESS_WORKER_NONE: no worker_threads thread, a
// Deno web Worker; 0: not known, a browser), written and cleared with the OS thread word. bus.watch(worker, handle) compares it with the exiting worker's own
// `threadId`: a slot that another worker joined with the handle is not this worker's (one
// handle given to two workers: the second's Bus.join failed with EBUSY), and it is not
// recovered while its own OS thread may run, under Deno too, where the OS thread word cannot
// tell (Deno's 'exit' comes before the worker stops; before, the watch recovered the first
// worker, alive: an outside audit, stop 50).
//
//    entry (LIVENESS_SIZE): 0 token word (token, token ^ NO_LIVENESS_LOCK, or 0) | 4 OS thread id
//                           | 8 worker thread (threadId + 1, LIVENESS_WORKER_NONE, or 0) | 12 (reserved, 0)
export const BUS_LIVENESS = 172;
// Bus header bytes 208..215: the bus's liveness key (8 random bytes, written by the creator's
// host after BUS_MAKE, fixed afterwards, never journaled; the core does not read them). A joiner
// names its liveness lock with it, as watchLock does (js/host/liveness.ts). Before BUS_VERSION
// 17 a joiner took the key from its handle: a handle without it (or with another) named a
// lock nobody watched, and the watcher, granted the one it asked for at once, recovered the
// live thread (an outside audit, stop 48).
export const BUS_LIVENESS_KEY = 208;
export const LIVENESS_KEY_SIZE = 8;
export const NO_LIVENESS_LOCK = 0x80000000;
export const LIVENESS_SIZE = 16;
export const LIVENESS_OS_THREAD = 4;
export const LIVENESS_WORKER = 8;
export const LIVENESS_WORKER_NONE = 0xffffffff; // no worker_threads thread (a Deno web Worker): never a Worker's threadId + 1
// name_rules: how many live entries of the match table hold a NAME rule (kind 0,
// MATCH_RULE_NAME); changed under the bus lock by MATCH_ADD, MATCH_REMOVE and a connection's
// close, read unlocked. Non-zero: a signal is matched under the bus lock, which keeps the name
// registry still while a NAME rule asks whether the sender owns a name (assembly/match.ts).
// (Before BUS_VERSION 16 it also counted a closed connection's entries until a MATCH_ADD took
// each of them again: one closed connection with a NAME rule kept every signal on that lock.)
export const BUS_NAME_RULES = 176;
// The match table's free entries (BUS_VERSION 16; the reply table's scheme): mfree is the index
// + 1 of the first entry on the free list (0: empty), linked by MATCH_NEXT; mhwm is the count of
// entries ever taken (those at or above it are free and on no list). MATCH_REMOVE puts the
// entries it removes on the list; a connection's close puts its whole chain there at once (its
// chain spliced, O(its entries) reads and a few logged stores); MATCH_ADD takes the list's
// first entry, else the entry at mhwm. Before, MATCH_ADD searched the table from its start
// for an entry not live (O(table) under the bus lock: filling a 262,140-entry table took 164 s).
export const BUS_MATCH_FREE = 180;
export const BUS_MATCH_HWM = 184;
// name_seq: +1 (an atomic add under the bus lock, not journaled: a spurious bump is harmless)
// whenever a well-known name leaves its primary owner (released, replaced, passed on, the
// owner closed). The old owner's space word is bumped and its line of waiting senders woken
// at the same moment: a sendAsync by name that waits for room there looks again, and goes to
// the name's new owner. Read unlocked by the host, before each try of such a send.
export const BUS_NAME_SEQ = 152;

// Thread slot: one per joined thread.
//
//    0 ┌──────────┬──────────┬──────────┬──────────┐
//      │ state    │ token    │ op       │ op_conn  │  state: THREAD_FREE / _LIVE / _RECOVERING
//   16 ├──────────┼──────────┼──────────┼──────────┤  op*: the SEND reservation waiting
//      │ op_gen   │ op_block │ op_from  │ op_len   │  for send_commit / send_cancel
//   32 ├──────────┼──────────┼──────────┼──────────┤
//      │ id       │ log_len  │ fault    │ wait @   │  id = slot + 1: what lock words hold
//   48 ├──────────┼──────────┼──────────┼──────────┤  wait: the lock word to wait on
//      │ wait_val │ busy     │ recoverer│ reason   │  busy: 1 while the host runs a command
//      │          │          │          │          │  recoverer: token of the thread recovering it
//   64 ├──────────┼──────────┬──────────┴──────────┤  reason: why the last failed command
//      │ reason_  │ bcast_   │ (reserved)          │  failed (R_*), and its number (arg)
//      │ arg      │ skip     │                     │  bcast_skip: a broadcast's contended receiver
//   72 ├──────────┴────────────────────────────────┤
//      │ scratch: out-parameters of host imports   │  THREAD_SCRATCH_SIZE
//  256 ├───────────────────────────────────────────┤
//      │ undo log: LOG_MAX × { u32 addr; u32 old } │  every store to shared state made
//      │                                           │  under a lock, until the command commits
//33024 ├───────────────────────────────────────────┤
//      │ arena of the AS runtime (per thread)      │  THREAD_ARENA_SIZE
//37120 ├───────────────────────────────────────────┤
//      │ command area: the command struct and its  │  CMD_MAX
//      │ message are written here by the host      │
//69888 ├───────────────────────────────────────────┤ THREAD_META
//      │ metadata cache: a meta block (META_SIZE)  │  the thread's process items, kept
//      │                                           │  while the provider's epoch holds
//78208 ├───────────────────────────────────────────┤ THREAD_META_ARGV
//      │ args_get's argv pointers (CMDLINE)        │  META_CMDLINE_ARGS_MAX × 4
//79232 ├───────────────────────────────────────────┤ THREAD_META_NAMES
//      │ OWNED_NAME items of the message being sent│  META_NAMES_MAX
//83328 ├──────────┬──────────┬──────────┬──────────┤ THREAD_DEFER
//      │ defer    │ owed_n   │ owed: OWED_MAX ×    │  wakes owed by a batch (bus.batch)
//      │          │          │ u32 connection addr │
//83388 │          │          │          ├──────────┤ THREAD_JOIN_GEN
//      │          │          │          │ join_gen │  bumped by each thread that joins
//      └──────────┴──────────┴──────────┴──────────┘ THREAD_SIZE (83392)
export const THREAD_STATE = 0;
export const THREAD_TOKEN = 4;
export const THREAD_OP = 8;
export const THREAD_OP_CONN = 12;
export const THREAD_OP_GEN = 16;
export const THREAD_OP_BLOCK = 20;
export const THREAD_OP_FROM = 24;
export const THREAD_OP_LEN = 28;
export const THREAD_ID = 32;
export const THREAD_LOG_LEN = 36;
export const THREAD_FAULT = 40;
export const THREAD_WAIT_ADDR = 44;
export const THREAD_WAIT_VAL = 48;
export const THREAD_BUSY = 52; // set by the host from SEND to send_commit/cancel (the copy window); recovery waits for 0
// The failure report: every path of the core that returns -errno first writes here the
// R_* reason naming the rule that failed, and a number that goes with it (a limit, a size,
// or 0; each R_* below says which). Read by the host only after a negative result; a
// command that succeeds leaves the words as they were. Both words lie before the command
// area at a fixed distance (THREAD_CMD - THREAD_REASON), which is where BUS_MAKE, run
// before any thread has joined, writes them for its command (Bus.create's is thread slot
// 0's command area). Not written when the caller has no thread slot (not joined, or its
// slot was recovered).
export const THREAD_REASON = 60;
export const THREAD_REASON_ARG = 64;
// A broadcast that meets a contended receiver lock records its position in op_from and
// returns WOULDBLOCK with this word BCAST_WAITING: the host waits on the lock word and runs
// the command again, which goes on at that receiver. When the host gives its wait up (the
// holder is not LIVE, or LOCK_WAIT_MS passed) it stores BCAST_SKIP and runs it again: that
// one receiver is skipped (its loss counted) and the broadcast goes on. Any other value is
// cleared when a broadcast starts or resumes (assembly/broadcast.ts).
export const THREAD_BCAST_SKIP = 68;
// A unicast (SEND, SEND_BATCH, send_commit) that stopped at a contended monitor's lock
// (assembly/monitor.ts, monitorsLock) returns WOULDBLOCK with THREAD_BCAST_SKIP BCAST_WAITING
// and this word = that monitor's connection slot + 1; run again after BCAST_SKIP, it passes
// over the monitors still contended below that slot (each loses the copy). The word is op_len's:
// a unicast runs with op OP_NONE (or OP_SEND, which has no op_len), never beside a broadcast's
// or notification's op, which use it.
export const THREAD_MON_SKIP = 28;
export const BCAST_WAITING = 1;
export const BCAST_SKIP = 2;
export const THREAD_SCRATCH = 72;
export const THREAD_SCRATCH_SIZE = 184;
export const THREAD_LOG = 256;
export const LOG_MAX = 4096; // logged stores per command: a close that releases MAX_NAMES_PER_CONN names logs < 3100 (names issue)
// A close (BYEBYE, a recovery's) commits its log in the middle once it holds LOG_CHECKPOINT
// entries, between two names it passes on or two calls it ends (journal.ts, logCheckpoint):
// 256 names (about 12 stores each) and 128 calls made (about 12 each), or calls made to it
// (as many as limits.replies), overflowed the log, and the close trapped every time it was
// tried, a recovery too (an outside audit, stop 49). LOG_MAX - LOG_CHECKPOINT (512) is room for
// the largest step between two checkpoints and the close's end (its id, state, counters).
export const LOG_CHECKPOINT = 3584;
export const THREAD_ARENA = 33024;
export const THREAD_ARENA_SIZE = 4096;
export const THREAD_CMD = 37120;
export const THREAD_META = 37120 + 32768; // the thread's metadata cache (a meta block, META_SIZE), after the command area
export const THREAD_META_ARGV = 69888 + 8320; // argv pointers of args_get (1024 = META_CMDLINE_ARGS_MAX × 4)
export const THREAD_META_NAMES = 78208 + 1024; // OWNED_NAME items of the message being sent (META_NAMES_MAX bytes)
// Deferred wakes (bus.batch, js/host/owed.ts): while the thread's defer word is 1, a message
// it publishes bumps the receiver's wake word as always but leaves the notify of a parked
// receiver (CONN_SLEEPERS not 0) to the host: the connection's address goes into owed (each
// once), and the host notifies them when the batch ends, and before any wait of its own that
// blocks. Past OWED_MAX receivers owed_n becomes OWED_MAX + 1: the host then notifies every
// parked receiver of the bus (a wake with nothing new is harmless: the receiver looks and
// waits again). Thread-private words (only the thread writes them, plain stores, never
// journaled); a recovery wakes what a dead thread owed (assembly/recover.ts), and a join
// clears them. Only message wakes are deferred: a lock's waiters, a space word's and a send
// line's are woken at once, as before.
export const THREAD_DEFER = 79232 + 4096;
export const THREAD_OWED_N = THREAD_DEFER + 4;
export const THREAD_OWED = THREAD_DEFER + 8;
/** Receivers a batch records by address before it wakes every parked one instead: 13 fill the slot's last 64-byte line with the two words before them and join_gen after them (14 before BUS_VERSION 21). */
export const OWED_MAX = 13;
// The slot's join generation: each join adds 1 to it (the core's thread_join, before the slot
// goes LIVE: stop 64's host added it after the join), and the thread remembers the value.
// A thread is its slot's owner while the slot is LIVE with its token *and* this value: a thread
// that was recovered and still runs (a terminated worker that runs on, one a watchdog declared
// dead) while a new thread joined the same slot with the same handle (a pool that reuses its
// handles) sees the generation moved, where the token alone said "mine" and let it act in,
// and free, the new thread's slot (an outside reading, stop 64). Never reset. A thread of
// stop 64's build (its host adds, its core does not) moves it once per join all the same.
export const THREAD_JOIN_GEN = THREAD_OWED + OWED_MAX * 4;
export const THREAD_SIZE = THREAD_JOIN_GEN + 4;
export const THREAD_FREE = 0;
export const THREAD_LIVE = 1;
export const THREAD_RECOVERING = 2; // declared dead: being recovered by the thread whose token is in THREAD_RECOVERER
export const OP_NONE = 0;
export const OP_SEND = 1; // a SEND reserved a slice and waits for send_commit / send_cancel
// a broadcast SEND with host vecs reserved a staging slice in the SENDER's own pool (op_conn,
// op_gen: the sender; op_block: the slice; op_from: the next connection slot send_commit
// delivers to, 0 at first, logged with each delivery; op_len: the length of the message
// copied to the slice's start, set to 0 once send_commit has delivered it):
// send_commit delivers from it to every matching receiver and frees it; send_cancel and
// recovery free it (assembly/stage.ts)
export const OP_BCAST = 2;
// an in-memory broadcast SEND (its message in the command area, which the host leaves alone
// until the command returns) stopped at a contended receiver: op_conn, op_gen: the sender;
// op_from: the position (broadcast.ts) it goes on at, with BCAST_MET once its metadata is
// collected. SEND run again goes on there; the broadcast's end, a trap (unwind) or recovery
// sets op back to OP_NONE. Nothing is reserved.
export const OP_BCAST_MEM = 3;
// op_from's flag: the broadcast's metadata (seqnum, TIMESTAMP, process items, owned names)
// is collected in the thread's scratch; a resumed delivery uses it (one collection per broadcast)
// a BYEBYE, HELLO, NAME_ACQUIRE, NAME_RELEASE or a recovery's close whose notifications are
// queued (NOTIFY_Q_OFF, with its change: the op is set, journaled, in the same commit) and
// not all sent, the bus lock held: op_from: the offset of the notification's record in the
// queue; op_len: the position of the next receiver (both journaled with each delivery, so a
// delivery and its progress commit together); op_conn: the command's result (HELLO's slot,
// else 0). At a contended receiver the command returns WOULDBLOCK; run again, it goes on
// there and returns it (assembly/notify.ts notifyEnd). A thread that dies meanwhile is
// recovered with them: its recoverer takes its bus lock over and sends the rest from its
// queue (recover.ts), so no receiver misses one and none gets one twice. A trap (unwind)
// ends it (OP_NONE): the rest are not sent
export const OP_NOTIFY = 4;
export const BCAST_MET = 0x40000000; // positions stay below 2 × n_conns
// A slot is claimed by its token (compare-exchange 0 -> token) before it goes LIVE, and its
// token is cleared last when it is freed, so a thread that dies at any point is found by its
// token. THREAD_RECOVERER is claimed (0 -> the recoverer's token) before the state becomes
// RECOVERING: one recoverer at a time, taken over only when that recoverer is not LIVE.
export const THREAD_RECOVERER = 56;
// hooks builds only: a THREAD_FAULT value FAULT_THREAD_STEP + k makes thread_join (the value
// written in the slot it is about to take) or thread_leave trap at its step k (a test of a
// thread that dies while joining or leaving)
export const FAULT_THREAD_STEP = 0x10000;

// Lock words: 0 = free, else the holder's thread id (slot + 1), with LOCK_WAITERS set by a
// thread that gave up spinning and sleeps on the word (the unlocker then notifies).
// Lock order: the bus lock, then one connection lock (docs/ARCHITECTURE.md says why).
export const LOCK_WAITERS = 0x40000000;
export const LOCK_ID_MASK = 0x3fffffff;
export const LOCK_SPIN = 64; // compare-exchange attempts before returning WOULDBLOCK
// A contended lock: the command returns WOULDBLOCK (negative, like the kernel's internal
// -ERESTARTSYS = -512, outside every errno and every positive result such as HELLO's slot)
// having changed nothing; the host waits on THREAD_WAIT_ADDR and runs it again.
export const WOULDBLOCK = -512;
// A SEND by name that found its name's owner changed once it held the receiver's lock: the
// core looks the name up again (never returned to the host; assembly/name-follow.ts).
export const ROUTE_AGAIN = -513;
// The host waits at most this long for a contended lock, then the command fails with EDEADLK
// having changed nothing (after DEAD_HOLDER_GRACE_MS when the holder's slot is not LIVE). A live holder keeps a
// lock for microseconds (a command never sleeps holding one); a holder that died keeps it
// until it is recovered, and recovery needs the waiting thread's event loop (Node delivers a
// worker's 'exit' there): never waiting forever is what lets that loop run.
export const LOCK_WAIT_MS = 1000;
// An event-loop wait (recvAsync and the iterator, call, sendAsync) blocks its thread on a
// contended lock at most this long per try; then it lets its event loop run (where a dead
// holder's recovery happens: Node's 'exit', a Web Lock's grant) for at most
// ASYNC_LOCK_RETRY_MS and tries again, and fails with EDEADLK only once the lock has stayed
// taken for LOCK_WAIT_MS in all. (Blocking for the whole LOCK_WAIT_MS froze the event loop
// for a second and kept bus.watch() from recovering the holder meanwhile.)
export const ASYNC_LOCK_WAIT_MS = 5;
export const ASYNC_LOCK_RETRY_MS = 5;
// The same per try on a thread that may not block (a browser page's main thread, where
// Atomics.wait throws): it spins there, and a spin of ASYNC_LOCK_WAIT_MS per try held a page
// 6-28 ms (an outside audit, stop 21). A live holder keeps a lock for microseconds; one
// descheduled by the OS keeps it for a time slice, which the page waits for in its event
// loop instead, between tries.
export const SPIN_LOCK_WAIT_MS = 0.5;
// What a synchronous command waits for a contended lock on a thread that may not block (a
// browser page's main thread, where it spins), in place of LOCK_WAIT_MS: one long task (the
// browser's own measure of a task that hurts a page). A dead holder is recovered from that
// page's event loop (a Web Lock's grant), which cannot run while the page spins: a second's
// spin froze a page for the whole second and delayed the recovery by as much (an outside
// audit, stop 43); after this the command fails with EDEADLK, having changed nothing, and a
// try from the event loop later finds the lock recovered.
export const PAGE_LOCK_WAIT_MS = 50;
// A lock whose holder is not LIVE (declared dead: being or already recovered) is waited for at
// most this long (within the caller's own bound), then EDEADLK. A thread declared dead while
// it still runs (Deno fires a worker's 'exit' before the thread stops; recoverThread on a live
// thread) may take a lock inside the command it was in and give it back when it notices, a
// few ms later at most: failing at once made the next command of another thread fail with
// EDEADLK in that window (an outside audit, Deno, 2.4 ms). A lock still held past it stays
// EDEADLK, as before.
export const DEAD_HOLDER_GRACE_MS = 20;
// An event-loop wait that has found a lock taken at looks LOCK_WAIT_MS apart fails with
// EDEADLK only once the lock's word has also stayed as its last look saw it (the same holder,
// never released) for this long: looks a second apart say nothing of the time between them,
// when a live, contended lock changes hands (js/lock-look.ts). A live holder keeps a lock for
// microseconds; 20 ms covers a holder the OS descheduled for a few time slices.
export const LOCK_STILL_MS = 20;
// Of a gap between two such looks longer than this, only this much counts toward LOCK_WAIT_MS:
// the rest is time the looking thread itself stood still (its own synchronous command blocked
// at a lock, a descheduled process), which says nothing of the lock; counted whole, a listener
// gave up (EDEADLK) on its first look after the thread's own second-long block, before the
// dead holder's 'exit' that recovers it could run (a user's check, stop 70). 100 ms is 20
// looks' worth (ASYNC_LOCK_RETRY_MS); a loop too loaded to look more often still gives up, each
// look counting 100 ms: a stuck lock is told within LOCK_WAIT_MS / 100 ms looks.
export const LOCK_LOOK_GAP_MS = 100;
// A broadcast set aside at a lock (emitAsync, js/bcast-async.ts) counts its time there as the
// looks above do (each gap LOCK_LOOK_GAP_MS at most), and whatever the gaps ends its wait once
// the lock has stayed in its way this long by the wall clock (its steps a second apart, a
// browser tab in the background, took ten of them; a minute apart when hidden long, ten
// minutes: a review of stop 71). Ten times LOCK_WAIT_MS: past any block of the thread's own
// that LOCK_LOOK_GAP_MS is there for (a synchronous command waits LOCK_WAIT_MS at most at a
// lock). The receives' and sends' looks (LockLook) have no such bound: one LockLook serves a
// connection's waits one after the other, and a wait's first look is not its own.
export const LOCK_LOOK_WALL_MS = 10 * LOCK_WAIT_MS;

// Connection slot.
//
//    0 ┌──────────┬──────────┬─────────────────────┐
//      │ state    │ gen      │ id u64              │  gen: bumped at HELLO and BYEBYE
//   16 ├──────────┴──────────┼─────────────────────┤
//      │ flags u64 (HELLO)   │ attach_send u64     │
//   32 ├─────────────────────┼──────────┬──────────┤
//      │ attach_recv u64     │ pool_size│ pool @   │
//   48 ├──────────┬──────────┼──────────┼──────────┤
//      │ uid      │ wake     │ q_head @ │ q_tail @ │  wake: futex word, + messages queued
//   64 ├──────────┼──────────┼──────────┼──────────┤
//      │ n_queued │ dropped  │ free @   │ pub @    │  free/pub: list heads (blocks)
//   80 ├──────────┼──────────┼──────────┼──────────┤
//      │ accounted│ n_users  │ lock     │ n_resv   │  n_resv: reservations in flight
//   96 ├──────────┼──────────┼──────────┬──────────┤
//      │ space    │ used     │ owner    │ sleepers │  used: pool bytes in blocks; owner:
//      │          │          │          │          │  the thread slot that said HELLO;
//      │          │          │          │          │  sleepers: threads waiting on wake
//  112 ├──────────┼──────────┼──────────┼──────────┤
//      │ pubmap @ │ match_   │ n_matches│ kmsg_lost│  pubmap: this slot's publish map;
//      │          │ head     │          │          │  match words: see "Matches" below
//  128 ├──────────┴──────────┴──────────┴──────────┤
//      │ quota table: QUOTA_USERS × QUOTA_SIZE     │
//  384 ├───────────────────────────────────────────┤
//      │ description, NUL-terminated [64]          │
//  448 ├──────────┬──────────┬──────────┬──────────┤
//      │ peak_q   │ peak_used│ n_names  │ names    │  peaks: conn.stats(); n_names: owner
//  464 ├──────────┼──────────┼──────────┼──────────┤  records (owned + queued); names: first
//      │ desc_len │ space_   │ calls    │ calls_   │  owner record + 1 (its list); space
//      │          │ sleepers │          │ tail     │  (96), space_sleepers: backpressure (below);
//  480 ├──────────┼──────────┼──────────┼──────────┤  calls, calls_tail, n_calls: its calls
//      │ n_calls  │ turn_run │ turn_    │ turn_    │  ("Calls and replies"); turn_run: the
//      │          │          │ blocked  │ blocked_ │  line's run of skips; turn_blocked(_uid):
//      │          │          │          │ uid      │  what its holder waits for (below)
//  496 ├──────────┼──────────┼──────────┬──────────┤
//      │ turn_next│ turn_    │ turn_    │ turn_    │  the line of senders waiting for room
//      │          │ serving  │ waiting  │ sleepers │  (fair backpressure, below)
//  512 ├──────────┼──────────┼──────────┴──────────┤
//      │ staged @ │ unfreed @│ (spare)             │  staged: a staged broadcast set aside;
//      │          │          │                     │  unfreed: staging slices to free (below)
//  576 └──────────┴──────────┴─────────────────────┘
export const CONN_STATE = 0;
export const CONN_GEN = 4;
export const CONN_ID = 8;
export const CONN_FLAGS = 16;
export const CONN_ATTACH_SEND = 24;
export const CONN_ATTACH_RECV = 32;
export const CONN_POOL_SIZE = 40;
export const CONN_POOL = 44;
export const CONN_UID = 48;
export const CONN_WAKE = 52;
// The wake word (BUS_VERSION 20) moves by at least the number of messages queued in the
// connection since any earlier value of it: each lock hold adds the messages it queued, at
// its unlock (lock.ts, wakeOnUnlock), and every other wake adds 1 (a close, a call's end that
// found no room, a host's bump); a recovery that releases a dead holder's lock, which may have
// queued any number, adds WAKE_UNCOUNTED. A thread's wait group wakes no more of its waits than
// the most messages the word counts since one of them looked (js/host/wait-group.ts).
export const WAKE_UNCOUNTED = 0x10000;
export const CONN_Q_HEAD = 56;
export const CONN_Q_TAIL = 60;
export const CONN_N_QUEUED = 64;
export const CONN_DROPPED = 68;
export const CONN_FREE = 72;
export const CONN_PUB = 76;
export const CONN_ACCOUNTED = 80;
export const CONN_N_USERS = 84;
export const CONN_LOCK = 88;
export const CONN_N_RESV = 92;
export const CONN_DESC_LEN = 464;
export const CONN_USED = 100;
export const CONN_OWNER = 104;
export const CONN_SLEEPERS = 108; // a publisher notifies the wake word only when this is not 0
export const CONN_PUBMAP = 112; // absolute address of the slot's publish map (set by HELLO)
export const CONN_N_NAMES = 456; // names issue: owner records of this connection (owned + queued), <= MAX_NAMES_PER_CONN
export const CONN_NAMES = 460; // names issue: index + 1 of its first owner record (linked by NAME_O_CNEXT; 0: none)
export const CONN_QUOTA = 128;
export const CONN_DESC = 384; // MAX_DESC_LEN + 1 = 64 bytes: up to 448
// wasmbus: statistics (conn.stats()): the most messages queued at once and the most pool bytes
// in blocks at once since HELLO (zeroed by HELLO; raised, journaled, by queueAppend / poolAlloc);
// after the description, in the slot's spare tail (448..512)
export const CONN_PEAK_QUEUED = 448;
export const CONN_PEAK_USED = 452;
// A staged broadcast (OP_BCAST, below) of this connection set aside where it stopped at a
// receiver's lock (BUS_VERSION 22, assembly/aside.ts): staged is its staging block (0: none,
// one per connection), which keeps the message and, in the block's pub_prev word (unused: a
// staging block is never published), its op_from. unfreed: the head of a list (linked by the
// blocks' link word) of staging blocks whose broadcast ended but whose free found this
// connection's lock taken; the owner's next command that holds that lock (RECV, FREE, a
// staging, the close) frees them. Both count in n_resv, as a reservation in flight does.
// Written without the lock, by the owner thread only (or its recoverer, under the lock: the
// owner is dead).
export const CONN_STAGED = 512;
export const CONN_UNFREED = 516;
// Staging slices freed from the unfreed list per command that holds the lock: each free logs
// some dozen stores, and RECV or FREE must stay far inside LOG_MAX; a list longer than this
// (one broadcast's free after another met the lock) empties over the next commands.
export const UNFREED_PER_CMD = 4;
export const CONN_SIZE = 576;
export const CONN_FREE_SLOT = 0;
export const CONN_ACTIVE = 1;
export const CONN_CLOSING = 2; // closed by recovery while sends into it are still reserved

// Id table: SEND finds its receiver by 64-bit id in O(1), without the bus lock. A chained
// hash, bucket = id_lo & id_mask (ids are handed out in sequence, so live ids spread evenly):
//
//  ids @ ┌──────────────────────────────────────────┐
//        │ bucket[id_mask + 1] u32: slot + 1 of the │  0: empty
//        │ chain's first connection                 │
//        ├──────────────────────────────────────────┤
//        │ link[n_conns] u32: slot + 1 of the next  │  one per connection slot;
//        │ connection in the same chain             │  0: end of chain
//        └──────────────────────────────────────────┘
//
// Written under the bus lock by HELLO (insert at the chain's head) and by connection close
// (unlink), journaled; the head / link that publishes a change is stored atomically. Read
// by SEND with atomic loads and no lock; what it finds is re-checked (state, id) under the
// receiver's lock. A slot's link is rewritten only when the slot joins a chain, after an
// atomic add to the bus's id_seq: a reader that found nothing re-reads id_seq, and walks
// again if it moved (docs/ARCHITECTURE.md, "Lookups that do not grow").
export const ID_LOOKUP_TRIES = 4; // walks before SEND falls back to scanning the connection table

// Quota entry, one per sending user with bytes queued in this receiver.
//  0 ┌──────────┬──────────┬──────────┬──────────┐
//    │ uid      │ bytes    │ msgs     │ used     │
// 16 └──────────┴──────────┴──────────┴──────────┘
export const QUOTA_UID = 0;
export const QUOTA_BYTES = 4;
export const QUOTA_MSGS = 8;
export const QUOTA_USED = 12;
export const QUOTA_SIZE = 16;
export const QUOTA_USERS = 16;
export const UID_KERNEL = -1; // pseudo-user of bus notifications (0xffffffff as u32)

// Pool block: every slice of a pool is a block with this header in front of it.
//
//  0 ┌──────────┬──────────┬──────────┬──────────┐
//    │ size     │ prev_size│ state    │ next @   │  size includes the header
// 16 ├──────────┼──────────┼──────────┼──────────┤  next: free list / queue
//    │ link @   │ quser    │ acct     │ pub_prev@│  link: published list / free prev
// 32 ├──────────┴──────────┴──────────┴──────────┤  pub_prev: published list, backwards
//    │                                           │  (not kept for its head)
//    │ slice: what the receiver reads (offset =  │
//    │ block + BLOCK_HDR - pool)                 │
//    └───────────────────────────────────────────┘
export const BLOCK_SIZE = 0;
export const BLOCK_PREV_SIZE = 4;
export const BLOCK_STATE = 8;
export const BLOCK_NEXT = 12;
export const BLOCK_LINK = 16;
export const BLOCK_QUSER = 20;
export const BLOCK_ACCT = 24;
export const BLOCK_PUB_PREV = 28;
export const BLOCK_HDR = 32;
export const BLOCK_MIN = 64; // a split leaves no block smaller than this
// block state bits (0 = free)
export const BLOCK_USED = 1; // allocated
export const BLOCK_KERNEL = 2; // queued: referenced by the receive queue
export const BLOCK_USER = 4; // published: handed to the pool owner, must be FREEd
export const BLOCK_RESERVED = 8; // a SEND is still writing it (not yet queued)
// Publish map: per connection slot, one bit per 8 bytes of pool, set while the block that
// starts there is published (BLOCK_USER). FREE accepts an offset only if its bit is set: the
// map lies outside every pool, so no byte a sender or the receiver writes into a slice can
// make an offset look like a published block. Bit k (block at pool + 8k) is bit k & 31 of
// u32 word k >> 5.
export const PUBMAP_SHIFT = 6; // map bytes = pool bytes >> PUBMAP_SHIFT

// Tables of later issues: entry sizes reserved now so the layout does not move.
export const REPLY_SIZE = 64; // pending reply record (layout: "Calls and replies" below)
// Meta block: the process metadata of one thread (its cache, at THREAD_META), of one
// connection as it was at HELLO (its snapshot, in the metas table, entry = connection slot)
// or of the bus creator at BUS_MAKE (the metas table's last entry, n_conns). Each item kind
// has a slot at a fixed offset, as large as its cap (js/shared/meta-limits.ts), holding the
// complete kdbus item (header included) when it was collected.
//
//    0 ┌──────────┬──────────┬──────────┬──────────┐
//      │ epoch    │ have     │ cached   │ cut      │  have: attach bits collected under
//   16 ├──────────┴──────────┴──────────┴──────────┤  epoch; cached: epoch is the provider's
//      │ size[16] u32, by attach bit: the item's   │  (0: no epoch, collect every time);
//      │ size (header included); 0: left out       │  cut: attach bits of the items that were
//      │                                           │  cut to fit their cap (CMDLINE)
//   80 ├───────────────────────────────────────────┤
//      │ (reserved)                                │
//  128 ├───────────────────────────────────────────┤ META_ITEMS
//      │ item slots (META_SLOT_*), META_SNAPSHOT_MAX│
// 8320 └───────────────────────────────────────────┘ META_SIZE
export const META_EPOCH = 0;
export const META_HAVE = 4;
export const META_CACHED = 8;
export const META_CUT = 12; // attach bits of the collected items that were cut (the TRUNCATED item)
export const META_SIZES = 16; // u32 per attach bit (bit n at META_SIZES + 4n)
export const META_ITEMS = 128;
export const META_SIZE = 128 + 8192; // header + META_SNAPSHOT_MAX (js/shared/meta-limits.ts)
// Item slots, from META_ITEMS; each the item header + its cap, 8-aligned (tests/unit checks
// them against js/shared/meta-limits.ts): CREDS 80, PIDS 40, AUXGROUPS 16 + 64 × 8,
// TID_COMM / PID_COMM 16 + 16, EXE 16 + 1024, CMDLINE 16 + 4096, CGROUP 16 + 1024,
// CAPS 16 + 4 + 4 × 2 × 4 (56), SECLABEL 16 + 1024, AUDIT 24: 8024 bytes
export const META_SLOT_CREDS = 0;
export const META_SLOT_PIDS = 80;
export const META_SLOT_AUXGROUPS = 120;
export const META_SLOT_TID_COMM = 648;
export const META_SLOT_PID_COMM = 680;
export const META_SLOT_EXE = 712;
export const META_SLOT_CMDLINE = 1752;
export const META_SLOT_CGROUP = 5864;
export const META_SLOT_CAPS = 6904;
export const META_SLOT_SECLABEL = 6960;
export const META_SLOT_AUDIT = 8000;
export const META_SLOTS_END = 8024;
export const MATCH_HDR = 320; // match entry header (with its NAME rule's bytes); + 2 bloom generations of mask

// ---------------------------------------------------------------------------------------
// Commands: written by the host into the calling thread's command area.
// Every command starts with { u64 size; u64 flags; u64 return_flags }.
// ---------------------------------------------------------------------------------------
export const CMD_SIZE = 0;
export const CMD_FLAGS = 8;
export const CMD_RETURN_FLAGS = 16;

// wasmbus: BUS_MAKE takes fixed fields instead of kdbus's make items (there is no
// file system to name the bus in; limits size the memory once).
//  0 size | 8 flags | 16 return_flags | 24 bloom_size u64 | 32 bloom_n_hash u64
// 40 n_threads u32 | 44 n_conns u32 | 48 pool_max u32 | 52 n_names u32
// 56 n_matches u32 | 60 n_replies u32 | 64 id128[16] (out) | 80 layout_end u64 (out)
export const MAKE_BLOOM_SIZE = 24;
export const MAKE_BLOOM_N_HASH = 32;
export const MAKE_N_THREADS = 40;
export const MAKE_N_CONNS = 44;
export const MAKE_POOL_MAX = 48;
export const MAKE_N_NAMES = 52;
export const MAKE_N_MATCHES = 56;
export const MAKE_N_REPLIES = 60;
export const MAKE_ID128 = 64;
export const MAKE_LAYOUT_END = 80;
export const MAKE_CMD_SIZE = 88;

// struct kdbus_cmd_hello
export const HELLO_ATTACH_SEND = 24;
export const HELLO_ATTACH_RECV = 32;
export const HELLO_BUS_FLAGS = 40;
export const HELLO_ID = 48;
export const HELLO_POOL_SIZE = 56;
export const HELLO_OFFSET = 64;
export const HELLO_ITEMS_SIZE = 72;
export const HELLO_ID128 = 80;
export const HELLO_CMD_SIZE = 96; // items follow
// wasmbus: the hello export returns the connection's slot index (its "fd"); the slot's
// generation, read from CONN_GEN, makes the (slot, gen) handle every later command takes.

// struct kdbus_cmd_send
export const SEND_MSG_ADDRESS = 24;
export const SEND_REPLY_OFFSET = 32;
export const SEND_REPLY_SIZE = 40;
export const SEND_REPLY_RETURN_FLAGS = 48;
export const SEND_CMD_SIZE = 56;
export const SEND_SYNC_REPLY = 1;
// wasmbus: run every check of the SEND (the command, the message, the route, a call's or
// reply's record, the receiver's lock and state, a message that can never fit the receiver's
// share: R_SEND_NEVER_FITS) and stop before the receiver's quota and pool: 0 and nothing
// changed, the receiver's space word in the thread slot (THREAD_WAIT_ADDR, as a SEND that
// found no room leaves it), or the SEND's -errno. A broadcast is checked, not delivered.
// sendAsync asks it before it waits in a line of senders, so that a message no room can help
// fails at once, and to learn the receiver a name has now.
export const SEND_PROBE = 2;
// wasmbus: a batch (sendmmsg's idea). Each PAYLOAD_VEC item of the message is a message of its
// own, sent in item order with the message's header and its DST_NAME: one command, one route,
// one metadata collection (every message of a batch carries the same metadata, the
// TIMESTAMP's clocks included, but its own sequence number) and one hold of the receiver's
// lock for all of them. The first
// message has msg.cookie, the next cookie + 1, and so on. Only plain unicast messages: not
// a broadcast, SIGNAL, EXPECT_REPLY or reply (cookie_reply), no BLOOM_FILTER, each VEC of
// bytes in shared memory (not a host vec, not padding); not with SYNC_REPLY or PROBE (all
// EINVAL: R_SEND_BATCH_KIND, R_SEND_BATCH_VEC, R_SEND_BATCH_FLAGS). The messages are sent
// until one finds no room in the receiver (its quota or its pool): SEND_BATCH_SENT says how
// many went (counted as each commits: a trap in a later one undoes only that one), and the
// SEND returns 0 when all did, else that message's -errno (the space word in the thread
// slot, as a SEND that found no room leaves it). Any other failure is found before the
// first message is sent: SEND_BATCH_SENT 0 (from SEND's step 4 on), nothing changed.
export const SEND_BATCH = 4;
export const SEND_BATCH_SENT = SEND_REPLY_OFFSET; // u64: messages of a SEND_BATCH sent (the batch's reply field: a batch is never a call)

// struct kdbus_cmd_recv
export const RECV_PRIORITY = 24;
export const RECV_DROPPED_MSGS = 32;
export const RECV_MSG_OFFSET = 40;
export const RECV_MSG_SIZE = 48;
export const RECV_MSG_RETURN_FLAGS = 56;
export const RECV_CMD_SIZE = 64;
export const RECV_PEEK = 1;
export const RECV_DROP = 2;
export const RECV_USE_PRIORITY = 4;
// wasmbus: take the reply of this connection's call whose cookie is in the command's
// `priority` field (read as a u64): the first queued message, wherever it is in the queue,
// without EXPECT_REPLY whose cookie_reply is that cookie (a reply the core matched to this
// caller's call record, or the bus's REPLY_TIMEOUT / REPLY_DEAD for it); with cookie 0, the
// first such message of any call (cookie_reply not 0: only the end of a call of this
// connection has one); EAGAIN (R_RECV_NO_REPLY) when none is queued. It leaves every other
// message queued, and the dropped count for the next ordinary RECV. Alone (EINVAL with PEEK,
// DROP or USE_PRIORITY: R_RECV_REPLY_FLAGS). call() and callSync() wait with it: a call
// never takes the user's messages off the queue (they stay accounted to their senders' quotas).
export const RECV_REPLY = 8;
// wasmbus: with RECV_REPLY (and a cookie, or 0), take that end only when no message is queued
// before it; one queued behind messages is left where it is, EAGAIN (R_RECV_NO_REPLY) with
// RECV_RETURN_BEHIND set. A caller whose receives must see its messages in queue order (a
// listener's, which takes the end itself, after the messages before it) asks so without the
// race of a look at the queue before the command: the end of a send under way, queued by the
// time the command has the lock, was taken out of order (stop 68).
export const RECV_REPLY_FIRST = 32;
// wasmbus: RECV_REPLY_FIRST found the end behind a queued message and left it (with the EAGAIN)
export const RECV_RETURN_BEHIND = 8;
export const RECV_RETURN_DROPPED_MSGS = 2;
// wasmbus: RECV_REPLY with a cookie found no end of that call queued, and this connection has
// no record of it (nor any reservation into its pool in flight): its end was dropped for lack
// of room (REPLY_DEAD or REPLY_TIMEOUT; dropping one wakes the connection's waiters, as does a
// reservation into its pool that ends unpublished), or was received already, or it never was
// this connection's call. Set with the EAGAIN (R_RECV_NO_REPLY).
export const RECV_RETURN_NO_CALL = 4;
// wasmbus: a batch, both ways, under one hold of the connection's lock. The command is
// RECV_BATCH_ENTRIES + 8 × n bytes (n >= 1), its tail:
//   64 u32 free_count  in: entries 0 .. free_count - 1 hold slices to FREE first (offset;
//                      size ignored), in order; out: how many were freed (fewer when one
//                      is not a published slice: ENXIO, R_FREE_OFFSET, nothing received)
//   68 u32 taken       out: messages received, in entries 0 .. taken - 1
//   72 entries         n × { u32 offset; u32 msg_size }
// then up to n queued messages are received in queue order, as that many RECVs would (the
// first also in msg.offset / msg.msg_size; the dropped count once). free_count and taken
// count what has committed, step by step (a trap in a later step undoes only that step).
// EAGAIN (R_RECV_EMPTY),
// taken 0, when none is queued: the frees are done all the same. After a shutdown the frees
// are done and the receive fails with ESHUTDOWN. Alone (EINVAL with any other RECV flag:
// R_RECV_BATCH_FLAGS); a tail of another size, or free_count > n: EINVAL (R_RECV_BATCH_SIZE,
// R_RECV_BATCH_FREE). conn.listen() receives with it, freeing each turn's messages with the
// next turn's receive.
export const RECV_BATCH = 16;
export const RECV_BATCH_FREE = 64;
export const RECV_BATCH_TAKEN = 68;
export const RECV_BATCH_ENTRIES = 72;

// struct kdbus_cmd_free
export const FREE_OFFSET = 24;
export const FREE_CMD_SIZE = 32;

// struct kdbus_cmd (BYEBYE)
export const BYEBYE_CMD_SIZE = 24;
// BYEBYE's one flag (wasmbus; kdbus's BYEBYE takes none): close even with messages queued or
// sends reserved into it, as a death closes a connection (the queue goes with the pool; calls
// queued to it end with REPLY_DEAD; a reserved send is committed into nothing). conn.close({ drop })
export const BYEBYE_DROP = 1;

// UPDATE (struct kdbus_cmd): { size; flags; return_flags } then ATTACH_FLAGS_SEND / _RECV
// items { hdr; u64 flags } (ATTACH_ITEM_SIZE), each at most once; a mask not given is kept
export const UPDATE_CMD_SIZE = 24;
export const ATTACH_ITEM_SIZE = 24;

// CONN_INFO / BUS_CREATOR_INFO (struct kdbus_cmd_info)
//  0 size | 8 flags | 16 return_flags | 24 id u64 | 32 attach_flags u64
// 40 offset u64 (out) | 48 info_size u64 (out) | 56 items (CONN_INFO: NAME, the names issue)
export const INFO_ID = 24;
export const INFO_ATTACH_FLAGS = 32;
export const INFO_OFFSET = 40;
export const INFO_INFO_SIZE = 48;
export const INFO_CMD_SIZE = 56;
// The answer, a slice in the caller's pool (FREE it): struct kdbus_info
//  0 size u64 | 8 id u64 | 16 flags u64 (the target's HELLO flags; the bus's flags for
// BUS_CREATOR_INFO, whose id is 0: wasmbus buses have no numeric id) | 24 items: the
// snapshot's process items, OWNED_NAME, CONN_DESCRIPTION, each in attach-bit order
export const KINFO_SIZE = 0;
export const KINFO_ID = 8;
export const KINFO_FLAGS = 16;
export const KINFO_HDR = 24;

// struct kdbus_msg
//  0 size | 8 flags | 16 priority s64 | 24 dst_id | 32 src_id | 40 payload_type
// 48 cookie | 56 timeout_ns / cookie_reply | 64 items
export const MSG_SIZE = 0;
export const MSG_FLAGS = 8;
export const MSG_PRIORITY = 16;
export const MSG_DST_ID = 24;
export const MSG_SRC_ID = 32;
export const MSG_PAYLOAD_TYPE = 40;
export const MSG_COOKIE = 48;
export const MSG_TIMEOUT = 56;
export const MSG_HDR = 64;
export const MSG_EXPECT_REPLY = 1;
export const MSG_NO_AUTO_START = 2;
export const MSG_SIGNAL = 4;

// HELLO flags
export const HELLO_ACCEPT_FD = 1;
export const HELLO_ACTIVATOR = 2;
export const HELLO_POLICY_HOLDER = 4;
export const HELLO_MONITOR = 8;

// Items: { u64 size; u64 type; payload }, next item at ALIGN8(size)
export const ITEM_SIZE = 0;
export const ITEM_TYPE = 8;
export const ITEM_HDR = 16;
export const ITEM_NEGOTIATE = 1;
export const ITEM_PAYLOAD_VEC = 2;
export const ITEM_PAYLOAD_OFF = 3;
export const ITEM_PAYLOAD_MEMFD = 4;
export const ITEM_FDS = 5;
export const ITEM_CANCEL_FD = 6;
export const ITEM_BLOOM_PARAMETER = 7;
export const ITEM_BLOOM_FILTER = 8;
export const ITEM_BLOOM_MASK = 9;
export const ITEM_DST_NAME = 10;
export const ITEM_MAKE_NAME = 11;
export const ITEM_ATTACH_FLAGS_SEND = 12;
export const ITEM_ATTACH_FLAGS_RECV = 13;
export const ITEM_ID = 14;
export const ITEM_NAME = 15;
export const ITEM_DST_ID = 16;
export const ITEM_TIMESTAMP = 0x1000;
export const ITEM_CREDS = 0x1001;
export const ITEM_PIDS = 0x1002;
export const ITEM_AUXGROUPS = 0x1003;
export const ITEM_OWNED_NAME = 0x1004;
export const ITEM_TID_COMM = 0x1005;
export const ITEM_PID_COMM = 0x1006;
export const ITEM_EXE = 0x1007;
export const ITEM_CMDLINE = 0x1008;
export const ITEM_CGROUP = 0x1009;
export const ITEM_CAPS = 0x100a;
export const ITEM_SECLABEL = 0x100b;
export const ITEM_AUDIT = 0x100c;
export const ITEM_CONN_DESCRIPTION = 0x100d;
// wasmbus: { hdr; u64 mask }, after the metadata items of a message or a CONN_INFO answer, only
// when one of them was cut to fit its cap rather than left out (CMDLINE to whole arguments,
// OWNED_NAME to whole names): mask holds their attach bits. kdbus had no caps, so no such item;
// the type lies outside kdbus's metadata range (0x1000 + attach bit, bits 0..63).
export const ITEM_TRUNCATED = 0x1100;
export const TRUNCATED_ITEM_SIZE = 24;
export const ITEM_NAME_ADD = 0x8000;
export const ITEM_NAME_REMOVE = 0x8001;
export const ITEM_NAME_CHANGE = 0x8002;
export const ITEM_ID_ADD = 0x8003;
export const ITEM_ID_REMOVE = 0x8004;
export const ITEM_REPLY_TIMEOUT = 0x8005;
export const ITEM_REPLY_DEAD = 0x8006;

// PAYLOAD_VEC / PAYLOAD_OFF item: { hdr; u64 size; u64 address|offset } = 32 bytes
export const VEC_SIZE = 16;
export const VEC_ADDRESS = 24;
export const VEC_ITEM_SIZE = 32;
// wasmbus: a VEC whose address is ~0 (both u32 halves 0xffffffff) is a HOST vec: its
// bytes are not in the shared memory. SEND reserves the slice, rewrites that address to
// the absolute destination in the receiver's pool and returns SEND_PENDING; the host
// copies the bytes there and calls send_commit (or send_cancel).
export const VEC_HOST_HALF = -1;
export const SEND_PENDING = 1;

// BLOOM_PARAMETER item: { hdr; u64 size; u64 n_hash } = 32 bytes
export const BLOOM_PARAMETER_ITEM_SIZE = 32;
// BLOOM_FILTER item: { hdr; u64 generation; u64 data[] }
export const BLOOM_FILTER_HDR = 24;
// TIMESTAMP item: { hdr; u64 seqnum; u64 monotonic_ns; u64 realtime_ns } = 40 bytes
export const TIMESTAMP_ITEM_SIZE = 40;
// CREDS item: { hdr; u64 uid, euid, suid, fsuid, gid, egid, sgid, fsgid } = 80 bytes
export const CREDS_ITEM_SIZE = 80;
export const CREDS_SIZE = 64;

// Attach flags: bit n <-> item type 0x1000 + n
export const ATTACH_TIMESTAMP = 1;
export const ATTACH_CREDS = 2;
export const ATTACH_PIDS = 4;
export const ATTACH_AUXGROUPS = 8;
export const ATTACH_NAMES = 16;
export const ATTACH_TID_COMM = 32;
export const ATTACH_PID_COMM = 64;
export const ATTACH_EXE = 128;
export const ATTACH_CMDLINE = 256;
export const ATTACH_CGROUP = 512;
export const ATTACH_CAPS = 1024;
export const ATTACH_SECLABEL = 2048;
export const ATTACH_AUDIT = 4096;
export const ATTACH_CONN_DESCRIPTION = 8192;
export const ATTACH_ALL = 0x3fff;
// What the core attaches: every kdbus item (OWNED_NAME comes from the name registry:
// assembly/owned.ts).
export const ATTACH_IMPLEMENTED = 0x3fff;
// The process items: collected from the provider (cached per thread while its epoch holds),
// and snapshotted at HELLO. The others: TIMESTAMP (per message), NAMES and CONN_DESCRIPTION
// (from the bus, at the moment of the message or the CONN_INFO).
export const ATTACH_PROCESS = 2 | 4 | 8 | 32 | 64 | 128 | 256 | 512 | 1024 | 2048 | 4096;
// PIDS item: { hdr; u64 pid, tid, ppid } = 40; AUDIT item: { hdr; u32 sessionid, loginuid } = 24
export const PIDS_ITEM_SIZE = 40;
export const AUDIT_ITEM_SIZE = 24;

// A fingerprint of the layout, compiled into the core and compared by the host when it
// instantiates the core: a build/core.wasm and a js/ from different sources refuse to run
// together instead of corrupting each other's memory. Bump BUS_VERSION with any layout change.
// ABI_FINGERPRINT: generated by tools/gen-core.mjs into js/shared/fingerprint.ts (a hash of every constant here).
export const RECOVER_BUSY_MS = 100; // how long recovery waits for a dying thread to finish its command
// How long recovery waits for a dying thread to finish its command when its OS thread is seen
// still running (LIVENESS_OS_THREAD): it will finish, once the OS runs it again; a loaded
// machine descheduled such threads for 0.3-1 s (stop 31's audit), and a thread paused in a
// debugger never finishes, so the wait stays bounded and recovery then goes ahead regardless.
export const RECOVER_RUNNING_MS = 5000;

// ---------------------------------------------------------------------------------------
// Limits: every limit in one place, with its reason.
// ---------------------------------------------------------------------------------------
export const MAX_PAYLOAD = 2097152; // 2 MiB per message (sum of VECs), kdbus KDBUS_MSG_MAX_PAYLOAD_SIZE -> EMSGSIZE
export const MAX_QUEUED_PER_USER = 256; // queued messages per (sending user, receiver), kdbus KDBUS_CONN_MAX_MSGS -> ENOBUFS
export const MAX_PENDING_REPLIES = 128; // pending calls per caller, kdbus KDBUS_CONN_MAX_REQUESTS_PENDING -> EMLINK
export const MAX_NAMES_PER_CONN = 256; // owned + queued names per connection -> E2BIG (names issue)
export const MAX_MATCHES_PER_CONN = 256; // match entries per connection -> EMFILE (matches issue)
export const MAX_NAME_LEN = 255; // well-known name length -> EINVAL
export const MATCH_NAME_MAX = 256; // bytes for a name in every match entry (MAX_NAME_LEN, padded to 8): found by index, compared in place
export const MAX_DESC_LEN = 63; // CONN_DESCRIPTION length -> ENAMETOOLONG
// look-ups of one SEND by name whose name changed owner between its look-up and its queueing
// (assembly/name-follow.ts): then it goes where the last look-up said. Each try is a look-up
// and a receiver lock, so a bus whose names change at every instant cannot hold a send up.
export const NAME_ROUTE_TRIES = 4;
export const BLOOM_SIZE_MIN = 8; // bloom filter bytes -> EINVAL
export const BLOOM_SIZE_MAX = 4096;
export const CMD_MAX = 32768; // command (and message header + items) size -> EMSGSIZE; the command area size
// (host) payloads up to this size are copied into the command area and sent in one SEND,
// larger ones straight into the receiver's pool through a host vec and send_commit: the
// second copy costs less than the reservation window up to about 4 KiB on both engines
// (measured: 64 B and 1 KiB about 20 % faster, 4 KiB even, 16 KiB 10 % slower on the twin)
export const SEND_INLINE_MAX = 2048;
export const POOL_SIZE_ALIGN = 4096; // HELLO pool_size granularity -> EINVAL
export const MAX_THREADS = 1024; // thread slots per bus (BUS_MAKE bound) -> EINVAL
export const MAX_CONNS = 65535; // connection slots per bus (BUS_MAKE bound) -> EINVAL
export const MAX_POOL = 268435456; // pool_max bound at BUS_MAKE (256 MiB) -> EINVAL
export const MAX_MEMORY_PAGES = 65536; // 4 GiB: the module's declared maximum; a bus larger -> ENOMEM

// ---------------------------------------------------------------------------------------
// errno (Linux numbering). Messages live once, in js/errno.ts.
// ---------------------------------------------------------------------------------------
export const EPERM = 1;
export const ENXIO = 6;
export const E2BIG = 7;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const EMLINK = 31;
export const EPIPE = 32;
export const EDOM = 33;
export const ESRCH = 3;
export const ENAMETOOLONG = 36;
export const EBADSLT = 57;
export const EBADMSG = 74;
export const ENOTUNIQ = 76;
export const EREMCHG = 78;
export const EUSERS = 87;
export const EDESTADDRREQ = 89;
export const EMSGSIZE = 90;
export const EOPNOTSUPP = 95;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ENOBUFS = 105;
export const ECONNRESET = 104;
export const ETIMEDOUT = 110;
export const EALREADY = 114;
export const EINPROGRESS = 115;
export const ECANCELED = 125;
export const EXFULL = 54;
export const EDEADLK = 35;

// ---------------------------------------------------------------------------------------
// Reasons: which rule a failed command broke, written with the errno into THREAD_REASON
// (and its number into THREAD_REASON_ARG, "arg" below; 0 when none is said). The host turns
// (errno, reason, arg) into the message (js/cmd/reasons.ts, one text per reason). Numbered
// by command: 1.. any command, 100 BUS_MAKE, 200 HELLO, 300 SEND, 400 RECV, 500 FREE,
// 600 BYEBYE, 700 threads and recovery. Every failure path of the core names one
// (tools/gen-core.mjs refuses a bare `-A.Exxx` in the core: failures go through fail()).
// A new errno comes with its reason.
// ---------------------------------------------------------------------------------------
export const R_NONE = 0;
// any command
export const R_NOT_JOINED = 1; // EBADF: the calling thread has no thread slot (never written: there is no slot)
export const R_BAD_HANDLE = 2; // EBADF: handle slot >= n_conns; arg n_conns
export const R_CONN_CLOSED = 3; // ECONNRESET: the handle's connection is closed (its generation moved on)
export const R_OP_PENDING = 4; // EINPROGRESS: this thread's SEND waits for send_commit / send_cancel
export const R_CMD_TOO_LARGE = 5; // EMSGSIZE: command size > CMD_MAX; arg CMD_MAX
export const R_CMD_TOO_SMALL = 6; // EINVAL: command size < its struct; arg the struct size
export const R_CMD_FLAGS = 7; // EINVAL: unknown command flags; arg the flags allowed
export const R_CMD_ITEMS = 8; // EINVAL: this command takes no items (size != the struct's); arg the struct size
export const R_ITEM_MALFORMED = 9; // EINVAL: an item's size is < 16 or runs past the command / message
export const R_ITEM_UNKNOWN = 10; // EINVAL: an item type this command does not take; arg the type
export const R_ITEM_UNSUPPORTED = 11; // EOPNOTSUPP: PAYLOAD_MEMFD, FDS, CANCEL_FD items; arg the type
export const R_ITEM_STRING = 12; // EINVAL: a string item not ended by its only NUL; arg the type
export const R_ITEM_DUPLICATE = 13; // EINVAL (HELLO) / EEXIST (SEND): an item given twice; arg the type
export const R_CMD_OUTSIDE_MEMORY = 15; // EFAULT: BUS_MAKE's command does not lie in the memory (never written: there is nowhere to write it)
export const R_LOCK_WAIT = 16; // EDEADLK: written by the engine (the host), not the core: a lock the command needs stayed held past the engine's lock wait (lockWaitMs; a holder not LIVE: DEAD_HOLDER_GRACE_MS), the command changed nothing; arg the holder's thread id (thread slot + 1) as the lock word held it
// BUS_MAKE
export const R_MAKE_BLOOM_SIZE = 100; // EINVAL: bloom_size not BLOOM_SIZE_MIN..BLOOM_SIZE_MAX, multiple of 8
export const R_MAKE_BLOOM_N_HASH = 101; // EINVAL: bloom_n_hash 0
export const R_MAKE_N_THREADS = 102; // EINVAL: n_threads not 1..MAX_THREADS
export const R_MAKE_N_CONNS = 103; // EINVAL: n_conns not 1..MAX_CONNS
export const R_MAKE_POOL_MAX = 104; // EINVAL: pool_max not POOL_SIZE_ALIGN..MAX_POOL, multiple of POOL_SIZE_ALIGN
export const R_MAKE_N_NAMES = 105; // EINVAL: n_names > 4 × MAX_CONNS
export const R_MAKE_N_MATCHES = 106; // EINVAL: n_matches > 4 × MAX_CONNS
export const R_MAKE_N_REPLIES = 107; // EINVAL: n_replies > 4 × MAX_CONNS
export const R_MAKE_TOO_LARGE = 108; // ENOMEM: the layout does not fit in 4 GiB
export const R_MAKE_MEMORY = 109; // ENOMEM: the memory is smaller than the layout; arg the layout end
export const R_MAKE_RANDOM = 110; // EINVAL: the random import failed (no bus id)
// HELLO
export const R_HELLO_KINDS = 200; // EINVAL: more than one of ACTIVATOR, POLICY_HOLDER, MONITOR
export const R_HELLO_ATTACH_SEND = 201; // EINVAL: attach_flags_send has bits outside ATTACH_ALL (and is not ~0)
export const R_HELLO_ATTACH_RECV = 202; // EINVAL: attach_flags_recv likewise
export const R_HELLO_POOL_SIZE = 203; // EINVAL: pool_size 0 or not a multiple of POOL_SIZE_ALIGN; arg POOL_SIZE_ALIGN
export const R_DESC_LONG = 204; // ENAMETOOLONG: CONN_DESCRIPTION longer than MAX_DESC_LEN; arg its length
export const R_DESC_EMPTY = 205; // EINVAL: CONN_DESCRIPTION empty
export const R_DESC_CHARS = 206; // EINVAL: CONN_DESCRIPTION has a byte outside [A-Za-z0-9_.-]; arg its offset
export const R_DESC_EDGE = 207; // EINVAL: CONN_DESCRIPTION starts or ends with '.' or '-'
export const R_HELLO_NAME_ACTIVATOR = 208; // EINVAL: a NAME item without ACTIVATOR, or ACTIVATOR without one
export const R_HELLO_KIND_UNSUPPORTED = 209; // EOPNOTSUPP: policy holders (monitors and activators are built: no longer reported for them)
export const R_HELLO_POOL_MAX = 210; // ENOMEM: pool_size > the bus's pool_max; arg pool_max
export const R_HELLO_CONNS_FULL = 211; // ENFILE: every connection slot is in use; arg n_conns
// SEND
export const R_SEND_MSG_ADDRESS = 300; // EFAULT: msg_address not 8-aligned inside the command area
export const R_SEND_MSG_TOO_LARGE = 301; // EMSGSIZE: msg.size > CMD_MAX; arg CMD_MAX
export const R_SEND_MSG_TOO_SMALL = 302; // EINVAL: msg.size < the message header; arg MSG_HDR
export const R_SEND_MSG_OUTSIDE = 303; // EFAULT: the message runs past the command area
export const R_SEND_SENDER_KIND = 304; // EOPNOTSUPP: the sender is an activator, policy holder or monitor
export const R_SEND_MSG_FLAGS = 305; // EINVAL: unknown msg.flags
export const R_SEND_PAYLOAD_TYPE = 306; // EINVAL: msg.payload_type 0
export const R_SEND_SRC_ID = 307; // EINVAL: msg.src_id neither 0 nor the sender's id
export const R_SEND_VEC_ITEM = 308; // EINVAL: a PAYLOAD_VEC item whose size is not VEC_ITEM_SIZE
export const R_SEND_VEC_EMPTY = 309; // EINVAL: a PAYLOAD_VEC of 0 bytes
export const R_SEND_VEC_ADDRESS = 310; // EFAULT: a PAYLOAD_VEC source outside the command area and the user region
export const R_SEND_BLOOM_SHORT = 311; // EINVAL: BLOOM_FILTER item shorter than its header
export const R_SEND_BLOOM_ALIGN = 312; // EFAULT: BLOOM_FILTER data not a multiple of 8 bytes
export const R_SEND_BCAST_NOT_SIGNAL = 313; // EBADMSG: a broadcast without MSG_SIGNAL
export const R_SEND_BCAST_REPLY = 314; // ENOTUNIQ: a broadcast that expects a reply or has a timeout
export const R_SEND_BCAST_NAME = 315; // EBADMSG: a broadcast with a DST_NAME
export const R_SEND_EXPECT_TIMEOUT = 316; // EINVAL: EXPECT_REPLY without a timeout
export const R_SEND_EXPECT_SIGNAL = 317; // ENOTUNIQ: EXPECT_REPLY with SIGNAL
export const R_SEND_SYNC_EXPECT = 318; // EINVAL: SEND_SYNC_REPLY without EXPECT_REPLY
export const R_SEND_REPLY_SIGNAL = 319; // EINVAL: a reply (cookie_reply) with SIGNAL
export const R_SEND_BLOOM_SIGNAL = 320; // EBADMSG: a BLOOM_FILTER without SIGNAL, or SIGNAL without one
export const R_SEND_BLOOM_SIZE = 321; // EDOM: BLOOM_FILTER size != the bus's bloom_size; arg bloom_size
export const R_SEND_NO_DST = 322; // EDESTADDRREQ: dst_id 0 and no DST_NAME
export const R_SEND_NAME_INVALID = 323; // EINVAL: DST_NAME is not a well-known name
export const R_SEND_PAYLOAD_MAX = 324; // EMSGSIZE: the payload is over MAX_PAYLOAD; arg MAX_PAYLOAD
export const R_SEND_CALL_UNSUPPORTED = 325; // EOPNOTSUPP: calls and replies (EXPECT_REPLY, cookie_reply): later issue
export const R_SEND_SIGNAL_UNSUPPORTED = 326; // EOPNOTSUPP: signals: later issue (matches)
export const R_SEND_NAME_NO_OWNER = 327; // ESRCH: no connection owns DST_NAME
export const R_SEND_NO_RECEIVER = 328; // ENXIO: no open connection has dst_id (or it closed meanwhile)
export const R_SEND_RECEIVER_KIND = 329; // ENXIO: dst_id is an activator, policy holder or monitor
export const R_SEND_QUOTA_BYTES = 330; // ENOBUFS: the sending user's share of the receiver's pool is used up; arg that share in bytes
export const R_SEND_QUOTA_MSGS = 331; // ENOBUFS: the sending user has MAX_QUEUED_PER_USER messages queued there; arg that limit
export const R_SEND_QUOTA_USERS = 332; // ENOBUFS: QUOTA_USERS other users have messages queued there; arg QUOTA_USERS
export const R_SEND_POOL_FULL = 333; // EXFULL: no free block in the receiver's pool for the slice; arg the bytes needed
export const R_SEND_NOT_PENDING = 334; // EINVAL: send_commit / send_cancel with no SEND pending
// RECV
export const R_RECV_DROP_PRIORITY = 400; // EINVAL: RECV_DROP with RECV_USE_PRIORITY
export const R_RECV_EMPTY = 401; // EAGAIN: no message queued (none at or below the priority)
export const R_RECV_REPLY_FLAGS = 402; // EINVAL: RECV_REPLY with PEEK, DROP or USE_PRIORITY
export const R_RECV_NO_REPLY = 403; // EAGAIN: no reply for that call queued
export const R_RECV_BATCH_FLAGS = 404; // EINVAL: RECV_BATCH with another RECV flag
export const R_RECV_BATCH_SIZE = 405; // EINVAL: a RECV_BATCH whose size is not RECV_BATCH_ENTRIES + 8 × n, n >= 1; arg RECV_BATCH_ENTRIES
export const R_RECV_BATCH_FREE = 406; // EINVAL: RECV_BATCH free_count larger than its entries; arg the entries
// FREE
export const R_FREE_OFFSET = 500; // ENXIO: the offset is not a published slice of this pool
// BYEBYE
export const R_BYEBYE_QUEUED = 600; // EBUSY: messages are queued; arg how many
export const R_BYEBYE_RESERVED = 601; // EBUSY: sends into this connection are still reserved; arg how many
// threads, recovery
export const R_JOIN_NO_BUS = 700; // EBADF: no bus in this memory (not written: no slot)
export const R_JOIN_ALREADY = 701; // EALREADY: this engine has joined already
export const R_JOIN_FULL = 702; // EUSERS: every thread slot is taken (not written: no slot)
export const R_LEAVE_CONNS_OPEN = 703; // EBUSY: the thread owns open connections
export const R_LEAVE_STAGING_LOCK = 712; // EBUSY: a connection of this thread that another thread closed keeps its staging slices (aside.ts), and its lock was taken at that moment: leave again; arg its slot
export const R_THREAD_RECOVERED = 704; // ESRCH: this thread's slot was recovered (not written: no longer its slot)
export const R_RECOVER_TOKEN = 705; // EINVAL: token 0 (no thread holds it)
export const R_RECOVER_SELF = 706; // EINVAL: the caller's own token
export const R_RECOVER_NOT_LIVE = 707; // ESRCH: no thread slot holds the token (it left, or was recovered already)
export const R_RECOVER_OWNED = 708; // EALREADY: another live thread is recovering that thread
export const R_JOIN_TOKEN = 709; // EINVAL: token 0
export const R_JOIN_RECOVERED = 710; // ESRCH: the joining thread was declared dead while it joined
export const R_JOIN_TOKEN_IN_USE = 711; // EBUSY: another thread slot holds this token (a handle joined twice: one handle per thread)

// ---------------------------------------------------------------------------------------
// Calls and replies (replies issue): the reply table, its records, the kernel messages.
// ---------------------------------------------------------------------------------------
// The reply table at BUS_REPLIES: one header record, then n_replies records, REPLY_SIZE
// each (busLayout reserves n_replies + 1). Everything in it is written under the bus lock,
// journaled; REPLY_T_LIVE is also read without a lock (an atomic load) by every command, so
// that a bus with no pending call pays one load for deadlines.
//
//  header
//    0 ┌──────────┬──────────┬──────────┬──────────┐
//      │ live     │ due lo   │ due hi   │ free     │  live: records in use
//   16 ├──────────┼──────────┼──────────┼──────────┤  due: the earliest deadline of a PENDING
//      │ hwm      │ dl head  │ dl tail  │ dl dead  │  record; 0 when a DEAD one waits
//   32 ├──────────┴──────────┴──────────┴──────────┤  free: index + 1 of the first record of
//      │ reserved up to REPLY_SIZE                 │  the free list (0: empty), linked by next
//   64 └───────────────────────────────────────────┘  hwm: records ever taken; those from hwm
//                                                     on are free and on no list (so a fresh,
//                                                     zeroed table needs no set-up)
//                                                     dl head, dl tail: index + 1 of the first
//                                                     and last record of the deadline list
//                                                     (0: empty); dl dead: of its last DEAD
//                                                     record (0: none)
//  record
//    0 ┌──────────┬──────────┬──────────┬──────────┐
//      │ state    │ caller   │ caller   │ replier  │  state: REPLY_FREE / _PENDING / _DEAD
//      │          │ slot     │ gen      │ slot     │  caller: the connection that SENT the call
//   16 ├──────────┼──────────┼──────────┴──────────┤  replier: the one it went to
//      │ replier  │ flags    │ cookie u64          │  flags: REPLY_SYNC (SEND_SYNC_REPLY)
//      │ gen      │          │ (the call's)        │
//   32 ├──────────┴──────────┼─────────────────────┤
//      │ deadline u64        │ caller id u64       │  deadline: msg.timeout_ns, absolute
//   48 ├──────────┬──────────┬──────────┬──────────┤  CLOCK_MONOTONIC ns
//      │ next     │ prev     │ dl next  │ dl prev  │  next, prev: index + 1 of the neighbours in
//   64 └──────────┴──────────┴──────────┴──────────┘  its caller's list (CONN_CALLS; a free
//                                                     record: next links the free list)
//                                                     dl next, dl prev: its neighbours in the
//                                                     deadline list (0 while free)
// Every record in use is on its caller's list, in the order the calls were made: a reply is
// matched by walking its caller's list (at most MAX_PENDING_REPLIES, and a service answering
// in order finds its call first), a call's EMLINK check reads CONN_N_CALLS, and a record is
// taken off the free list: no SEND walks the whole table (before BUS_VERSION 9 each call and
// each reply scanned the records in use, under the bus lock). Every record in use is also on
// the bus's one deadline list (BUS_VERSION 15): the DEAD ones first (in the order they came to
// owe REPLY_DEAD), then the PENDING ones by deadline, those with one deadline in call order. A call goes in from the tail (calls made
// with one timeout come in deadline order: O(1); one with a shorter timeout than the calls
// before it walks back past them), a record that owes REPLY_DEAD moves to the head, and the
// sweep takes what is due from the head and stops at the first record that is not: expiring
// k calls costs O(k), where each expiry scanned every record in use before (65 536 calls
// timing out one after the other: 8 s of CPU, the event loop blocked up to 2.8 s; stop 45).
export const REPLY_T_LIVE = 0;
export const REPLY_T_DUE = 4;
export const REPLY_T_FREE = 12;
export const REPLY_T_HWM = 16;
export const REPLY_T_DL_HEAD = 20;
export const REPLY_T_DL_TAIL = 24;
export const REPLY_T_DL_DEAD = 28;
export const REPLY_STATE = 0;
export const REPLY_CALLER_SLOT = 4;
export const REPLY_CALLER_GEN = 8;
export const REPLY_REPLIER_SLOT = 12;
export const REPLY_REPLIER_GEN = 16;
export const REPLY_FLAGS = 20;
export const REPLY_COOKIE = 24;
export const REPLY_DEADLINE = 32;
export const REPLY_CALLER_ID = 40;
export const REPLY_NEXT = 48;
export const REPLY_PREV = 52;
export const REPLY_DL_NEXT = 56;
export const REPLY_DL_PREV = 60;
export const REPLY_FREE = 0;
export const REPLY_PENDING = 1; // waits for its reply or its deadline
export const REPLY_DEAD = 2; // the replier closed or dropped the call: REPLY_DEAD is owed to the caller
export const REPLY_SYNC = 1;
// kdbus's payload type of the bus's own messages (KDBUS_PAYLOAD_KERNEL)
export const PAYLOAD_KERNEL = 0;
// where replyTick reads the clock: the last 8 bytes of the thread's scratch
export const REPLY_SCRATCH_NOW = 176;
// clock_time_get's `precision` when the core reads the clocks after the command's change
// has committed, or for a message of the bus's own (every other read passes 0, a hint WASI
// lets a host ignore): a bus notification's TIMESTAMP, a REPLY_TIMEOUT's or REPLY_DEAD's
// (delivered one by one, each committed on its own, by whichever command expires them), and
// the sweep's clock reading at the end of a BYEBYE, a DROP or a recovery. The host reads a
// provider's clock that throws there as no clock (0), since the command can no longer fail
// whole (stop 45: the call failed after its change was made, and the notification was lost;
// a close threw with its connection closed; a recovery stopped half done)
export const CLOCK_PRECISION_COMMITTED = 1;
// the bus-wide reply table is full (wasmbus: kdbus allocated replies without a bus-wide cap;
// docs/DIFFERENCES.md)
export const ENOSPC = 28;
// Reasons of calls and replies
export const R_SEND_CALLS_MAX = 335; // EMLINK: the caller has MAX_PENDING_REPLIES calls pending; arg that limit
export const R_SEND_REPLY_TABLE_FULL = 336; // ENOSPC: every record of the bus's reply table is in use; arg n_replies
export const R_SEND_REPLY_NO_CALL = 337; // EBADSLT: a reply (cookie_reply) matching no pending call from its destination to the sender; arg 0

// Matches, broadcast signals and bus notifications (matches issue)
// ---------------------------------------------------------------------------------------
// Connection slot words of the match issue (in the slot's reserved area, 112..128):
//  116 match_head: index + 1 of the connection's first match entry (0: none); the chain
//      goes on through each entry's MATCH_NEXT. Changed under the bus lock AND the
//      connection's lock (MATCH_ADD / MATCH_REMOVE); read under either.
//  120 n_matches: how many entries the chain holds (<= MAX_MATCHES_PER_CONN); read
//      unlocked by a broadcast as a hint (0: skip the connection without locking it).
//  124 kmsg_lost: broadcasts and bus notifications lost because the receiver's lock stayed
//      contended (atomic add, not journaled); RECV adds them to DROPPED_MSGS.
export const CONN_MATCH_HEAD = 116;
export const CONN_N_MATCHES = 120;
export const CONN_KMSG_LOST = 124;

// Match entry: one per MATCH_ADD, in the bus's match table (n_matches × match_size at
// BUS_MATCHES; match_size = MATCH_HDR + 2 × bloom_size: two bloom mask generations).
// Every entry has room for one name (MATCH_NAME_MAX): fixed-size entries are found by index
// and a name is compared in place, without allocating (the cost: n_matches × 256 bytes).
//
//  0 ┌──────────┬──────────┬─────────────────────┐
//    │ owner    │ gen      │ cookie u64          │  owner: connection slot + 1 (0: free);
// 16 ├──────────┼──────────┼──────────┬──────────┤  gen: the owner's CONN_GEN when added
//    │ next     │ kind     │ rules    │ n_gen    │  next: index + 1 of the owner's next entry
// 32 ├──────────┴──────────┼──────────┴──────────┤  kind: 0 (signals) or a notification type
//    │ id u64              │ id2 u64             │  rules: MATCH_RULE_* present (kind 0)
// 48 ├──────────┬──────────┴─────────────────────┤  n_gen: bloom mask generations (0: none)
//    │ name_len │ (reserved)                     │  id: ID rule (sender), ID_ADD/REMOVE id,
// 64 ├──────────┴────────────────────────────────┤      NAME_* old id
//    │ name: the NAME rule's name, or the name a │  id2: DST_ID rule, NAME_* new id
//    │ NAME_* rule is about (name_len bytes, no  │  (~0 in a notification rule: any id)
//    │ NUL; name_len 0: none), MATCH_NAME_MAX    │  name_len: 0 unless MATCH_RULE_NAME
//320 ├───────────────────────────────────────────┤  (kind 0) or a NAME_* rule with a name
//    │ bloom mask, n_gen × bloom_size bytes      │
//    └───────────────────────────────────────────┘
// An entry is live while it is on its owner's chain: owner's slot ACTIVE with generation gen.
// A free entry is on the free list (BUS_MATCH_FREE) or at or above BUS_MATCH_HWM; its fields
// but next are don't-cares (a closed connection's entries keep their stale owner and gen).
export const MATCH_OWNER = 0;
export const MATCH_GEN = 4;
export const MATCH_COOKIE = 8;
export const MATCH_NEXT = 16;
export const MATCH_KIND = 20;
export const MATCH_RULES = 24;
export const MATCH_N_GEN = 28;
export const MATCH_ID = 32;
export const MATCH_ID2 = 40;
export const MATCH_NAME_LEN = 48;
export const MATCH_NAME = 64;
export const MATCH_MASK = 320; // == MATCH_HDR == MATCH_NAME + MATCH_NAME_MAX
export const MATCH_GENERATIONS = 2; // bloom mask generations an entry holds (the layout's 2 × bloom_size)
export const MATCH_RULE_BLOOM = 1;
export const MATCH_RULE_ID = 2;
export const MATCH_RULE_DST_ID = 4;
export const MATCH_RULE_NAME = 8; // the sender is the primary owner of the entry's name

// struct kdbus_cmd_match (MATCH_ADD, MATCH_REMOVE)
//  0 size | 8 flags | 16 return_flags | 24 cookie u64 | 32 items (MATCH_ADD: the rules)
export const MATCH_CMD_COOKIE = 24;
export const MATCH_CMD_SIZE = 32;
export const MATCH_REPLACE = 1;
// ID_ADD / ID_REMOVE rule and notification payload: { u64 id; u64 flags } (16 bytes)
export const NOTIFY_ID_SIZE = 16;
// NAME_ADD / NAME_REMOVE / NAME_CHANGE: { old { u64 id; u64 flags }; new { u64 id; u64 flags }; char name[] }
export const NOTIFY_NAME_HDR = 32;
// Kernel messages: payload_type PAYLOAD_KERNEL (0, above), src_id 0.
// Where notify.ts builds a notification's payload: the last NOTIFY_BUF bytes of the
// calling thread's command area (the command that causes a notification has been read by
// then; a name payload is at most NOTIFY_NAME_HDR + MAX_NAME_LEN + 1 bytes); its last 32
// bytes hold the TIMESTAMP stamp of a notification sent at once (notify.ts).
export const NOTIFY_BUF = 512;
// A closing connection's notifications are queued (not sent) until the close is committed,
// in the closer's command area from this offset up to NOTIFY_BUF (BYEBYE's command is 24
// bytes; RECOVER has none): about 31 KiB, room for every name a connection may own unless
// they are over ninety of 255 bytes (a notification that does not fit is sent at once).
// HELLO's, NAME_ACQUIRE's and NAME_RELEASE's (one or two) too, once their command's items
// (which may lie here) are read
export const NOTIFY_Q_OFF = 256;

// Reasons: 800 MATCH_ADD / MATCH_REMOVE (and SEND's signal rules)
export const R_MATCH_SENDER_KIND = 800; // EOPNOTSUPP: a monitor, activator or policy holder cannot add or remove matches
export const R_MATCH_BLOOM_SIZE = 801; // EDOM: BLOOM_MASK length not a non-zero multiple of bloom_size; arg bloom_size
export const R_MATCH_BLOOM_GENERATIONS = 802; // EMSGSIZE: BLOOM_MASK has more generations than an entry holds; arg MATCH_GENERATIONS
export const R_MATCH_ITEM_SIZE = 803; // EINVAL: an ID / DST_ID / ID_ADD / ID_REMOVE / NAME_* rule of the wrong size; arg the type
export const R_MATCH_MIXED = 804; // EINVAL: a notification rule with another rule in one entry (it could never match); arg the type
export const R_MATCH_NAME_UNSUPPORTED = 805; // no longer reported (NAME rules are stored since BUS_VERSION 8); was EOPNOTSUPP: NAME rules, and names in NAME_* rules; arg the type
export const R_MATCH_PER_CONN = 806; // EMFILE: the connection has MAX_MATCHES_PER_CONN entries; arg that limit
export const R_MATCH_TABLE_FULL = 807; // ENFILE: every entry of the bus's match table is in use; arg n_matches
export const R_MATCH_NO_COOKIE = 808; // EBADSLT: MATCH_REMOVE of a cookie with no entry
export const R_SEND_BCAST_HOST_VEC = 809; // no longer reported (a broadcast with host vecs is staged since BUS_VERSION 8); was EOPNOTSUPP: a broadcast's payload must lie in shared memory
// Reasons 1050.. (broadcast names and staging)
export const R_SEND_BCAST_STAGING = 1051; // ENOBUFS / EXFULL (the pool's errno): the sender's own pool (its quota, or its room) cannot hold a broadcast's staging slice; arg the bytes it needs
export const R_MATCH_NAME_INVALID = 1050; // EINVAL: a NAME rule, or the name of a NAME_* rule, is not a NUL-terminated valid well-known name; arg the type
// A bus notification (or a monitor's copy of a unicast) reaches receivers one at a time; once
// one got it, the command cannot back out with WOULDBLOCK, so a contended receiver lock is
// tried this many times (a broadcast signal waits instead: THREAD_BCAST_SKIP above) (each LOCK_SPIN compare-exchanges: a bounded spin of some microseconds, longer than
// a live holder keeps a lock) before that receiver loses the message (CONN_KMSG_LOST,
// reported by its next RECV as DROPPED_MSGS).
export const DELIVER_LOCK_TRIES = 64;
// Reasons 1130.. (a staged broadcast set aside in its connection: send_aside, send_resume, send_abandon)
export const R_ASIDE_NOT_STAGED = 1130; // EINVAL: send_aside with no staged broadcast of this thread under way (OP_BCAST, its message not delivered to every receiver yet)
export const R_ASIDE_TAKEN = 1131; // EBUSY: the sender's connection already has a staged broadcast set aside (one per connection)
export const R_ASIDE_NOT_OWNER = 1132; // EPERM: the connection is another thread's (a staged broadcast is set aside, resumed and abandoned only by the thread that said the connection's HELLO); arg its owner's slot
export const R_RESUME_NONE = 1133; // EINVAL: send_resume with no staged broadcast set aside on that connection
// Reasons 1120.. (lossless broadcast delivery)
export const R_BCAST_BUS_LOCK = 1120; // EDEADLK: a broadcast waiting to go on (at a contended receiver) could not take the bus lock back (its NAME rules or owned names need it) within LOCK_WAIT_MS, or its holder is not LIVE: the receivers from there on do not get it; a staged broadcast keeps its reservation (cancel it)

// shutdown (evloop issue)
export const ESHUTDOWN = 108;
export const R_BUS_SHUTDOWN = 14; // ESHUTDOWN: the bus was shut down (bus.shutdown()): only FREE, BYEBYE, RECV_DROP and leaving work
// Names (names issue): the bus-wide name registry, NAME_ACQUIRE, NAME_RELEASE, LIST.
// ---------------------------------------------------------------------------------------
// Name table, at BUS_NAMES (written under the bus lock, journaled; read under it too):
//
//  names @ ┌──────────┬──────────┬──────────┬──────────┐
//        0 │ mask     │ name_hwm │ name_free│ own_hwm  │  mask: buckets - 1 (a power of two >= n_names)
//       16 ├──────────┼──────────┼──────────┼──────────┤  *_hwm: entries ever used (free above it)
//          │ own_free │ n_live   │ n_owners │(reserved)│  *_free: index + 1 of a free list's head
//       32 ├──────────┴──────────┴──────────┴──────────┤  n_live: names; n_owners: owner records
//          │ bucket[mask + 1] u32: index + 1 of the    │
//          │ chain's first name (0: empty)             │  bucket = nameHash(name) & mask
//          ├───────────────────────────────────────────┤
//          │ entry[n_names] (NAME_SIZE each)           │
//          └───────────────────────────────────────────┘
// Each entry index holds two independent records: a NAME (its string, hash chain and owner
// queue) and an OWNER record (one connection's place in one name's queue). Every name has at
// least one owner record, so owner records, of which there are n_names, are the bus-wide
// limit: a NAME_ACQUIRE that needs a new owner record when n_owners == n_names gets ENFILE.
//
// Entry:
//    0 ┌──────────┬──────────┬──────────┬──────────┐
//      │ len      │ hash     │ chain    │ head     │  NAME: len 0 = free; chain: next name in
//   16 ├──────────┼──────────┼──────────┼──────────┤  the bucket (or the free list) + 1;
//      │ tail     │ o_conn   │ o_flags  │ o_name   │  head/tail: the queue's owner records + 1
//   32 ├──────────┼──────────┼──────────┴──────────┤  (head = the primary owner)
//      │ o_qnext  │ o_cnext  │ (reserved)          │  OWNER: o_conn = connection slot + 1 (0 = free)
//   64 ├──────────┴──────────┴─────────────────────┤  o_flags: its acquire flags (QUEUE,
//      │ name bytes, NUL-terminated [256]          │  ALLOW_REPLACEMENT); o_name: name + 1;
//  320 └───────────────────────────────────────────┘  o_qnext: next in the name's queue (or the
//                                                      free list) + 1; o_cnext: next of its connection + 1
export const NAMES_MASK = 0;
export const NAMES_NAME_HWM = 4;
export const NAMES_NAME_FREE = 8;
export const NAMES_OWN_HWM = 12;
export const NAMES_OWN_FREE = 16;
export const NAMES_N_LIVE = 20;
export const NAMES_N_OWNERS = 24;
export const NAMES_HDR = 32;
export const NAME_LEN = 0;
export const NAME_HASH = 4;
export const NAME_CHAIN = 8;
export const NAME_HEAD = 12;
export const NAME_TAIL = 16;
export const NAME_O_CONN = 20;
export const NAME_O_FLAGS = 24;
export const NAME_O_NAME = 28;
export const NAME_O_QNEXT = 32;
export const NAME_O_CNEXT = 36;
export const NAME_STR = 64;
export const NAME_SIZE = 320; // NAME_STR + MAX_NAME_LEN + 1

// struct kdbus_cmd_name (NAME_ACQUIRE, NAME_RELEASE): { size; flags; return_flags; items },
// one NAME item (a string)
export const NAME_CMD_SIZE = 24;
export const NAME_REPLACE_EXISTING = 1;
export const NAME_ALLOW_REPLACEMENT = 2;
export const NAME_QUEUE = 4;
export const NAME_IN_QUEUE = 8;
export const NAME_ACTIVATOR = 16;
export const NAME_PRIMARY = 32;
export const NAME_ACQUIRED = 64;

// struct kdbus_cmd_list
//  0 size | 8 flags | 16 return_flags | 24 offset u64 (out) | 32 list_size u64 (out)
export const LIST_OFFSET = 24;
export const LIST_SIZE = 32;
export const LIST_CMD_SIZE = 40;
export const LIST_UNIQUE = 1;
export const LIST_NAMES = 2;
export const LIST_ACTIVATORS = 4;
export const LIST_QUEUED = 8;
// struct kdbus_info, one per listed (connection, name), in the caller's pool:
//  0 size u64 | 8 id u64 | 16 flags u64 (the connection's HELLO flags) | 24 items
// with NAMES / QUEUED / ACTIVATORS one OWNED_NAME item: { hdr; u64 flags; char name[] }
// (flags: the owner's acquire flags | PRIMARY or IN_QUEUE)
// (the records are struct kdbus_info: KINFO_* above)
export const OWNED_NAME_FLAGS = 16; // in the item
export const OWNED_NAME_STR = 24;

// reasons of the names issue: 900 NAME_ACQUIRE / NAME_RELEASE, 930 SEND by name, 950 LIST
export const R_NAME_MISSING = 900; // EINVAL: the command has no NAME item
export const R_NAME_INVALID = 901; // EINVAL: the NAME is not a valid well-known name
export const R_NAME_CONN_LIMIT = 902; // E2BIG: the connection owns or queues for MAX_NAMES_PER_CONN names; arg that limit
export const R_NAME_TABLE_FULL = 903; // ENFILE: the bus's name table has no free owner record; arg n_names
export const R_NAME_TAKEN = 904; // EEXIST: another connection owns the name, and it cannot be replaced or queued for
export const R_NAME_UNKNOWN = 905; // ESRCH: NAME_RELEASE of a name nobody owns
export const R_NAME_NOT_OWNER = 906; // EADDRINUSE: NAME_RELEASE of a name the caller neither owns nor queues for
export const R_SEND_NAME_DST_ID = 930; // EREMCHG: DST_NAME with a dst_id that is not its owner's id
export const R_LIST_POOL_FULL = 950; // EXFULL: no room in the caller's pool for the list; arg the bytes needed

// metadata: UPDATE, CONN_INFO, BUS_CREATOR_INFO
export const R_UPDATE_ATTACH_ITEM = 1400; // EINVAL: an ATTACH_FLAGS_SEND / _RECV item whose size is not ATTACH_ITEM_SIZE; arg the type
export const R_UPDATE_ATTACH_SEND = 1401; // EINVAL: the ATTACH_FLAGS_SEND mask has bits outside ATTACH_ALL (and is not ~0)
export const R_UPDATE_ATTACH_RECV = 1402; // EINVAL: the ATTACH_FLAGS_RECV mask likewise
export const R_UPDATE_POLICY = 1403; // EOPNOTSUPP: NAME items (kdbus: policy entries of an activator or policy holder): policies are not built; arg the type
export const R_INFO_ATTACH = 1410; // EINVAL: attach_flags has bits outside ATTACH_ALL (and is not ~0)
export const R_INFO_NO_ID = 1411; // EINVAL: id 0 and no NAME item
export const R_INFO_NO_CONN = 1412; // ENXIO: no open connection has that id
export const R_INFO_POOL_FULL = 1413; // EXFULL: no free block in the caller's pool for the answer; arg the bytes needed
export const R_INFO_ID_AND_NAME = 1415; // EINVAL: CONN_INFO with both an id and a NAME item
export const R_INFO_NAME_NO_OWNER = 1416; // ESRCH: CONN_INFO by a name nobody owns
export const R_INFO_BY_NAME = 1414; // EOPNOTSUPP: (no longer reported: CONN_INFO by name is built)
// Backpressure and configurable quotas (issue 10)
// ---------------------------------------------------------------------------------------
// Connection slot words:
//   96 space: futex word, +1 (atomic add, never journaled) whenever room is released in this
//      connection's pool or quota: quotaRelease (RECV's dequeue, RECV_DROP, send_cancel,
//      close) and poolFree (FREE, ...), always under the connection's lock. A SEND that
//      fails for room (ENOBUFS, EXFULL) leaves THREAD_WAIT_ADDR = the receiver's space word
//      and THREAD_WAIT_VAL = its value read under that lock: sendAsync waits for a change.
//      It sits on the lock's 64-byte line (until stop 27 at 464): every SEND reads it under
//      the receiver's lock and every RECV and FREE bumps it there, so on the lock's line it
//      costs no line of its own between a sender's thread and the receiver's.
//  468 space_sleepers: threads waiting on space (the core notifies only when it is not 0)
export const CONN_SPACE = 96;
export const CONN_SPACE_SLEEPERS = 468;
// Connection slot words for its calls (the reply table's lists, see "Calls and replies"),
// written under the bus lock, journaled; HELLO zeroes them:
//  472 calls: index + 1 of the first record of the calls it made (0: none)
//  476 calls_tail: index + 1 of the last
//  480 n_calls: records on that list (pending or owing REPLY_DEAD), <= MAX_PENDING_REPLIES
export const CONN_CALLS = 472;
export const CONN_CALLS_TAIL = 476;
export const CONN_N_CALLS = 480;
// Fair backpressure (issue 10): senders waiting for room in this connection take turns in
// the order they started waiting (a ticket line; js/host/turns.ts). Host words, changed only
// with atomics outside any command, never journaled; HELLO zeroes them (an empty line).
//  496 turn_next: the next ticket; a sendAsync that finds no room (or a line) takes one
//  500 turn_serving: the ticket whose holder may send now; those behind sleep on this word
//  504 turn_waiting: written by the holder of the turn after a failed try:
//      (its ticket & 0xffff) << 16 | (the space word's value it waits to change & 0xffff);
//      any other value means the holder owes a try (the turn is new, or room was released)
//  484 turn_run: the run of skips in progress, shared by every watcher of the line (Watch):
//      (the turn the last skip moved to & 0xffff) << 16 | (holders skipped in a row, <= 0xffff);
//      a turn other than the one served now means no run (a live holder passed since)
//  508 turn_sleepers: threads sleeping on turn_serving (a pass notifies only when not 0);
//      HELLO keeps it, and space_sleepers (468), as it keeps sleepers (108): a thread parked on
//      the closed connection's words is taken off by the notify that wakes it, or takes itself
//      off at its timeout (js/host/sleepers.ts)
//  488 turn_blocked: written by the holder of the turn with turn_waiting, after a failed try:
//      (its ticket & 0xffff) << 16 | 1 when what it found used up is its own user's message
//      count at the receiver (ENOBUFS R_SEND_QUOTA_MSGS), | 0 otherwise (bytes: every user's
//      shrink the others' shares; the pool, the quota rows); another turn's value says nothing
//  492 turn_blocked_uid: that user (the holder's connection's uid), written before turn_blocked.
//      A sender of another user that finds the holder alone in the line and so blocked tries
//      before it lines up: its send cannot take the room the holder waits for, nor overtake a
//      waiter of its own user (stop 44: one user's waiting sendAsync
//      held back every other user's sendAsync, replyAsync and call() to that receiver, which
//      a synchronous send passed; an outside audit). Both zeroed by HELLO with the line.
export const CONN_TURN_RUN = 484;
export const CONN_TURN_BLOCKED = 488;
export const CONN_TURN_BLOCKED_UID = 492;
export const CONN_TURN_NEXT = 496;
export const CONN_TURN_SERVING = 500;
export const CONN_TURN_WAITING = 504;
export const CONN_TURN_SLEEPERS = 508;
// Bus header word: turns given away by the bounded wait (a holder that owed a try for
// TURN_MS: a dead or stalled thread); an atomic counter, never journaled
export const BUS_TURN_SKIPS = 200;
// Bus header word (set by BUS_MAKE, fixed afterwards: read without a lock, never journaled)
//  248 max_queued_per_user: the per (sending user, receiver) message quota
export const BUS_MAX_QUEUED = 248;
// BUS_MAKE's optional tail: a command of MAKE_CMD_SIZE_LIMITS bytes carries
//  88 max_queued_per_user u32 (0: MAX_QUEUED_PER_USER) | 92 reserved (0)
export const MAKE_MAX_QUEUED = 88;
export const MAKE_CMD_SIZE_LIMITS = 96;
export const MAX_QUEUED_LIMIT = 65536; // the largest max_queued_per_user BUS_MAKE accepts
export const R_MAKE_MAX_QUEUED = 130; // EINVAL: max_queued_per_user > MAX_QUEUED_LIMIT; arg that bound
// BUS_MAKE's command lies in thread slot 0's command area, [MAKE_CMD_AREA, + CMD_MAX): its
// outputs, and the reason words of its failures (at slot 0's THREAD_REASON), are written there
// after the fresh bus is laid out. Anywhere else they landed on the reserved page, the module's
// static data or the bus's own tables (an outside audit, stop 41: cmd 8 was accepted).
export const MAKE_CMD_AREA = BUS_BASE + BUS_SIZE + THREAD_CMD;
// A BUS_MAKE by an instance joined to a bus (thread_join, not left): the bus in its memory would
// be overwritten under its own threads, this one's slot first (its provider's random_get then
// found the slot gone: SlotLost thrown in the middle, the memory left with no bus; stop 66).
export const R_MAKE_JOINED = 132; // EBUSY: this instance is joined to a bus (thread_leave first); its reason words in its own slot
export const R_MAKE_CMD_PLACE = 131; // EFAULT: BUS_MAKE's command (its first 8 bytes, then its size bytes) does not lie in thread slot 0's command area (MAKE_CMD_AREA .. + CMD_MAX), or is not 8-aligned; arg MAKE_CMD_AREA
export const R_SEND_NEVER_FITS = 360; // ENOBUFS: the message is larger than any one user's share of the receiver's pool (half the pool / 3); arg that share in bytes
export const R_SEND_BATCH_KIND = 361; // EINVAL: a SEND_BATCH of a broadcast, signal, call (EXPECT_REPLY) or reply (cookie_reply)
export const R_SEND_BATCH_VEC = 362; // EINVAL: a SEND_BATCH with no PAYLOAD_VEC, or one that is a host vec or padding (address 0)
export const R_SEND_BATCH_FLAGS = 363; // EINVAL: SEND_BATCH with SEND_SYNC_REPLY or SEND_PROBE

// Monitors and activators (issue 8 item 7)
// ---------------------------------------------------------------------------------------
// Bus header word (BUS_SIZE's reserved tail, 160..175):
//  160 n_monitors: open monitor connections. Changed under the bus lock (HELLO, connection
//      close), journaled; read with an atomic load and no lock by every delivery, so a bus
//      without monitors pays one load per message for them.
export const BUS_N_MONITORS = 160;
// A monitor (HELLO_MONITOR) gets a copy of every message the bus delivers: each unicast
// (copied from the receiver's slice once it is queued there, so a host-vector SEND's copy is
// made at send_commit; the bus's REPLY_TIMEOUT / REPLY_DEAD too), each broadcast and each bus
// notification (written with the monitor's own receive mask, monitors first). It cannot send, own names or add matches (EOPNOTSUPP), is never listed,
// never announced (no ID_ADD / ID_REMOVE) and cannot be addressed (ENXIO). A copy that finds
// no room (quota, pool) or a monitor lock that stays contended is lost to that monitor alone,
// counted in its dropped count (DROPPED_MSGS at its next RECV); the sender is never told.
//
// An activator (HELLO_ACTIVATOR + one NAME item) holds a name for a service that has not
// started: its owner record (o_flags NAME_ACTIVATOR) stays last in the name's queue, so it
// is the primary owner exactly while no real owner is. Messages sent to the name while it is
// primary are queued in its pool (NO_AUTO_START: EADDRNOTAVAIL); when a connection takes the
// name they move to it (those whose DST_NAME is that name; a moved call's reply record names
// the new owner), and back when the last real owner releases it.
export const R_HELLO_ACTIVATOR_NAME = 1000; // EINVAL: an activator's NAME item is not a valid well-known name
export const R_HELLO_ACTIVATOR_TAKEN = 1001; // EEXIST: the name already has an activator
export const R_HELLO_ACTIVATOR_TABLE = 1002; // ENFILE: the bus's name table has no free owner record for the activator; arg n_names
export const R_NAME_CALLER_KIND = 1003; // EOPNOTSUPP: NAME_ACQUIRE / NAME_RELEASE by a monitor or an activator
export const R_SEND_NAME_ACTIVATOR = 1004; // EADDRNOTAVAIL: NO_AUTO_START to a name whose primary owner is its activator
export const R_UPDATE_ACTIVATOR_SEND = 1005; // EOPNOTSUPP: UPDATE of an activator's send mask (it sends nothing)
