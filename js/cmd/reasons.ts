// reasons: the core's failure report turned into a message. The core writes, beside the
// errno, the R_* reason naming the rule that failed and a number that goes with it (a limit,
// a size) into the caller's thread slot (THREAD_REASON, THREAD_REASON_ARG: js/shared/abi.ts);
// this table says each in words. The rules themselves live only in the core: nothing here
// validates anything, it only describes what the core found. A reason the table does not
// know, or one that does not go with the errno, falls back to the errno's message.
import * as A from '../shared/abi.ts';
import { BusError } from '../errno.ts';
import { itemName } from './items.ts';

/**
 * What the host passed, quoted in a message when the core judged it: `desc` (a
 * CONN_DESCRIPTION), `poolSize`, `dst` (a SEND destination), `offset` (a FREE).
 */
export type Context = { desc?: string; poolSize?: number; dst?: string | number; offset?: number; name?: string };
/** the text of a reason: `arg` from the core, `w` what the host passed */
type Text = (arg: number, w: Context) => string;
const q = (v: string | number | undefined) => (v === undefined ? '' : ` ${typeof v === 'string' ? JSON.stringify(v) : v}`);
/** a caller's string quoted with its first QUOTE_MAX characters only, and its length in bytes when cut (a 4 KiB name quoted whole: an outside audit, stop 41) */
const QUOTE_MAX = 64;
const qc = (v: string | undefined, sized = true) => (v === undefined ? '' : v.length <= QUOTE_MAX ? ` ${JSON.stringify(v)}`
  : ` ${JSON.stringify(v.slice(0, QUOTE_MAX))}…${sized ? ` (${new TextEncoder().encode(v).length} bytes)` : ''}`);
/** the well-known name rule, as every name check states it */
export const NAME_RULE = `two or more '.'-separated elements of [A-Za-z0-9_-], none starting with a digit, at most ${A.MAX_NAME_LEN} bytes`;
/** a receiver named by its destination: ` "org.x.Y"` for a name, ` with the id 2` for an id (" the receiver 2" read as a count: an outside audit, stop 40) */
const qr = (v: string | number | undefined) => (v === undefined ? '' : typeof v === 'string' ? ` ${JSON.stringify(v)}` : ` with the id ${v}`);
const HEX = (n: number) => `0x${n.toString(16)}`;

/** reason -> [errnos it goes with, text] */
export const REASONS: Record<number, [number[], Text]> = {
  [A.R_NOT_JOINED]: [[A.EBADF], () => 'this thread has not joined the bus (or has left it)'],
  [A.R_BAD_HANDLE]: [[A.EBADF], (n) => `the connection handle is out of range (the bus has ${n} connection slots)`],
  [A.R_CONN_CLOSED]: [[A.ECONNRESET], () => 'the connection is closed'],
  [A.R_BUS_SHUTDOWN]: [[A.ESHUTDOWN], () => 'the bus was shut down (bus.shutdown()): nothing new is taken; freeing and dropping messages, closing connections, releasing names, removing matches, look-ups and leaving still work'],
  [A.R_OP_PENDING]: [[A.EINPROGRESS], () => 'a SEND of this thread waits for send_commit / send_cancel'],
  [A.R_CMD_TOO_LARGE]: [[A.EMSGSIZE], (n) => `the command is larger than CMD_MAX (${n} bytes)`],
  [A.R_CMD_OUTSIDE_MEMORY]: [[A.EFAULT], () => 'the command does not lie in the memory'],
  [A.R_LOCK_WAIT]: [[A.EDEADLK], (id) => `a lock this command needs stayed held past its wait by thread slot ${id - 1}, which never let go of it meanwhile: dead and not recovered yet, stuck, or live but descheduled that long on a loaded machine (a wait of 50 ms on a page's main thread is short): the command gave up, having changed nothing`],
  [A.R_CMD_TOO_SMALL]: [[A.EINVAL], (n) => `the command is smaller than its struct (${n} bytes)`],
  [A.R_CMD_FLAGS]: [[A.EINVAL], (n) => `unknown command flags (allowed: ${HEX(n)})`],
  [A.R_CMD_ITEMS]: [[A.EINVAL], (n) => `this command takes no items (its size must be ${n})`],
  [A.R_ITEM_MALFORMED]: [[A.EINVAL], () => 'an item is malformed: its size is below 16 bytes or runs past the end of the command or message'],
  [A.R_ITEM_UNKNOWN]: [[A.EINVAL], (t) => `item ${itemName(t)} is not accepted here`],
  [A.R_ITEM_UNSUPPORTED]: [[A.EOPNOTSUPP], (t) => `${itemName(t)} items are not supported (no file descriptors on this bus)`],
  [A.R_ITEM_STRING]: [[A.EINVAL], (t) => `the ${itemName(t)} string must end with its only NUL byte`],
  [A.R_ITEM_DUPLICATE]: [[A.EINVAL, A.EEXIST], (t) => `${itemName(t)} given twice`],

  [A.R_MAKE_BLOOM_SIZE]: [[A.EINVAL], () => `bloom_size must be ${A.BLOOM_SIZE_MIN} to ${A.BLOOM_SIZE_MAX} bytes, a multiple of 8 (bloom.size)`],
  [A.R_MAKE_BLOOM_N_HASH]: [[A.EINVAL], () => 'bloom_n_hash must be at least 1 (bloom.hashes)'],
  [A.R_MAKE_N_THREADS]: [[A.EINVAL], () => `n_threads must be 1 to ${A.MAX_THREADS} (limits.threads)`],
  [A.R_MAKE_N_CONNS]: [[A.EINVAL], () => `n_conns must be 1 to ${A.MAX_CONNS} (limits.connections)`],
  [A.R_MAKE_POOL_MAX]: [[A.EINVAL], () => `pool_max must be a multiple of ${A.POOL_SIZE_ALIGN} from ${A.POOL_SIZE_ALIGN} to ${A.MAX_POOL} bytes (limits.poolMax)`],
  [A.R_MAKE_N_NAMES]: [[A.EINVAL], () => `n_names must be at most ${4 * A.MAX_CONNS} (limits.names)`],
  [A.R_MAKE_N_MATCHES]: [[A.EINVAL], () => `n_matches must be at most ${4 * A.MAX_CONNS} (limits.matches)`],
  [A.R_MAKE_N_REPLIES]: [[A.EINVAL], () => `n_replies must be at most ${4 * A.MAX_CONNS} (limits.replies)`],
  [A.R_MAKE_TOO_LARGE]: [[A.ENOMEM], () => 'a bus with these limits does not fit in 4 GiB of memory'],
  [A.R_MAKE_MEMORY]: [[A.ENOMEM], (n) => `the memory is smaller than the bus layout (${n} bytes)`],
  [A.R_MAKE_RANDOM]: [[A.EINVAL], () => 'the random source failed (no bus id)'],
  [A.R_MAKE_JOINED]: [[A.EBUSY], () => 'this thread is joined to a bus (thread_leave first): a BUS_MAKE would overwrite that bus under its threads'],
  [A.R_MAKE_CMD_PLACE]: [[A.EFAULT], (n) => `the command must lie in thread slot 0's command area (MAKE_CMD_ADDR, ${n}, up to ${A.CMD_MAX} bytes), 8-aligned: elsewhere its outputs would land on the reserved page, the module's static data or the bus's tables`],

  [A.R_HELLO_KINDS]: [[A.EINVAL], () => 'flags may name only one of ACTIVATOR, POLICY_HOLDER, MONITOR'],
  [A.R_HELLO_ATTACH_SEND]: [[A.EINVAL], () => `attach_flags_send has bits outside ATTACH_ALL (${HEX(A.ATTACH_ALL)})`],
  [A.R_HELLO_ATTACH_RECV]: [[A.EINVAL], () => `attach_flags_recv has bits outside ATTACH_ALL (${HEX(A.ATTACH_ALL)})`],
  [A.R_HELLO_POOL_SIZE]: [[A.EINVAL], (n, w) => `pool_size${q(w.poolSize)} must be a non-zero multiple of ${n} bytes (poolSize)`],
  [A.R_DESC_LONG]: [[A.ENAMETOOLONG], (n, w) => `CONN_DESCRIPTION${qc(w.desc, false)} is ${n} bytes, longer than ${A.MAX_DESC_LEN}`],
  [A.R_DESC_EMPTY]: [[A.EINVAL], () => 'CONN_DESCRIPTION must not be empty'],
  [A.R_DESC_CHARS]: [[A.EINVAL], (n, w) => `CONN_DESCRIPTION${q(w.desc)} may contain only [A-Za-z0-9_.-] (byte ${n} is not one of them)`],
  [A.R_DESC_EDGE]: [[A.EINVAL], (_, w) => `CONN_DESCRIPTION${q(w.desc)} must not start or end with '.' or '-'`],
  [A.R_HELLO_NAME_ACTIVATOR]: [[A.EINVAL], () => 'a NAME item goes with the ACTIVATOR flag, and only with it'],
  [A.R_HELLO_KIND_UNSUPPORTED]: [[A.EOPNOTSUPP], () => 'policy holders are not supported (policies are not built)'],
  [A.R_HELLO_ACTIVATOR_NAME]: [[A.EINVAL], (_, w) => `the activator's name${qc(w.name)} is not a well-known name (${NAME_RULE})`],
  [A.R_HELLO_ACTIVATOR_TAKEN]: [[A.EEXIST], (_, w) => `the name${q(w.name)} already has an activator`],
  [A.R_HELLO_ACTIVATOR_TABLE]: [[A.ENFILE], (n) => `all ${n} owner records of the bus's name table are in use (limits.names)`],
  [A.R_NAME_CALLER_KIND]: [[A.EOPNOTSUPP], () => 'a monitor or an activator cannot acquire or release names'],
  [A.R_UPDATE_ACTIVATOR_SEND]: [[A.EOPNOTSUPP], () => 'an activator sends nothing: its send mask cannot be changed'],
  [A.R_SEND_NAME_ACTIVATOR]: [[A.EADDRNOTAVAIL], (_, w) => `the name${q(w.dst)} is held by its activator only, and the message says NO_AUTO_START`],
  [A.R_HELLO_POOL_MAX]: [[A.ENOMEM], (n, w) => `pool_size${q(w.poolSize)} is larger than the bus's pool_max (${n} bytes, limits.poolMax)`],
  [A.R_HELLO_CONNS_FULL]: [[A.ENFILE], (n) => `all ${n} connection slots of the bus are in use (limits.connections)`],

  [A.R_SEND_MSG_ADDRESS]: [[A.EFAULT], () => 'msg_address must be 8-aligned, inside the caller\'s command area'],
  [A.R_SEND_MSG_TOO_LARGE]: [[A.EMSGSIZE], (n) => `msg.size is larger than CMD_MAX (${n} bytes)`],
  [A.R_SEND_MSG_TOO_SMALL]: [[A.EINVAL], (n) => `msg.size is smaller than the message header (${n} bytes)`],
  [A.R_SEND_MSG_OUTSIDE]: [[A.EFAULT], () => 'the message runs past the end of the command area'],
  [A.R_SEND_SENDER_KIND]: [[A.EOPNOTSUPP], () => 'activators, policy holders and monitors cannot send'],
  [A.R_SEND_MSG_FLAGS]: [[A.EINVAL], () => 'unknown msg.flags (EXPECT_REPLY 1, NO_AUTO_START 2, SIGNAL 4)'],
  [A.R_SEND_PAYLOAD_TYPE]: [[A.EINVAL], () => 'msg.payload_type must not be 0'],
  [A.R_SEND_SRC_ID]: [[A.EINVAL], () => 'msg.src_id must be 0 or the sender\'s own id'],
  [A.R_SEND_VEC_ITEM]: [[A.EINVAL], () => `a PAYLOAD_VEC item must be ${A.VEC_ITEM_SIZE} bytes`],
  [A.R_SEND_VEC_EMPTY]: [[A.EINVAL], () => 'a PAYLOAD_VEC must not be empty'],
  [A.R_SEND_VEC_ADDRESS]: [[A.EFAULT], () => 'a PAYLOAD_VEC source must lie in the caller\'s command area or the user region'],
  [A.R_SEND_BLOOM_SHORT]: [[A.EINVAL], () => 'the BLOOM_FILTER item is shorter than its header'],
  [A.R_SEND_BLOOM_ALIGN]: [[A.EFAULT], () => 'the BLOOM_FILTER data must be a multiple of 8 bytes'],
  [A.R_SEND_BCAST_NOT_SIGNAL]: [[A.EBADMSG], () => 'a broadcast must be a SIGNAL'],
  [A.R_SEND_BCAST_REPLY]: [[A.ENOTUNIQ], () => 'a broadcast cannot expect a reply or have a timeout'],
  [A.R_SEND_BCAST_NAME]: [[A.EBADMSG], () => 'a broadcast cannot have a DST_NAME'],
  [A.R_SEND_EXPECT_TIMEOUT]: [[A.EINVAL], () => 'EXPECT_REPLY needs a timeout'],
  [A.R_SEND_EXPECT_SIGNAL]: [[A.ENOTUNIQ], () => 'a SIGNAL cannot expect a reply'],
  [A.R_SEND_SYNC_EXPECT]: [[A.EINVAL], () => 'SEND_SYNC_REPLY needs EXPECT_REPLY'],
  [A.R_SEND_REPLY_SIGNAL]: [[A.EINVAL], () => 'a reply cannot be a SIGNAL'],
  [A.R_SEND_BLOOM_SIGNAL]: [[A.EBADMSG], () => 'a SIGNAL carries a BLOOM_FILTER, and only a SIGNAL does'],
  [A.R_SEND_BLOOM_SIZE]: [[A.EDOM], (n) => `the BLOOM_FILTER must be the bus's bloom size (${n} bytes)`],
  [A.R_SEND_NO_DST]: [[A.EDESTADDRREQ], () => 'no destination: dst_id is 0 and there is no DST_NAME'],
  [A.R_SEND_NAME_INVALID]: [[A.EINVAL], (_, w) => `the destination${q(w.dst)} is not a well-known name (${NAME_RULE}) nor a unique name ":1.<id>"`],
  [A.R_SEND_PAYLOAD_MAX]: [[A.EMSGSIZE], (n) => `the payload is larger than ${n} bytes`],
  [A.R_SEND_CALL_UNSUPPORTED]: [[A.EOPNOTSUPP], () => 'calls and replies (EXPECT_REPLY, a timeout) are not supported yet (no longer reported)'],
  [A.R_SEND_SIGNAL_UNSUPPORTED]: [[A.EOPNOTSUPP], () => 'signals are not supported yet'],
  [A.R_SEND_NAME_NO_OWNER]: [[A.ESRCH], (_, w) => `no connection owns the name${q(w.dst)}${w.dst === 'org.freedesktop.DBus' ? ': it is the D-Bus driver\'s, reserved, and wasmbus has no driver (getNameOwner, listNames, addMatch({ notifications }) and waitForName do its work; DBUS.md, "Reserved names")' : ''}`],
  [A.R_SEND_NO_RECEIVER]: [[A.ENXIO], (_, w) => typeof w.dst === 'string' && !/^:1\.\d+$/.test(w.dst)
    ? `the owner of the name${q(w.dst)} closed while the message was on its way to it, at the last of its look-ups (NAME_ROUTE_TRIES)`
    : `no open connection has the id${q(w.dst)}`],
  [A.R_SEND_RECEIVER_KIND]: [[A.ENXIO], (_, w) => `the receiver${qr(w.dst)} is an activator, policy holder or monitor`],
  [A.R_SEND_QUOTA_BYTES]: [[A.ENOBUFS], (n) => `the receiver's per-user byte quota is used up: this sending user (its uid: the connections of every thread with that uid count together) may have ${n} bytes queued in the receiver's pool (a third of what the receiver has not received of the shared half of its pool), and this message does not fit (sendAsync waits for room, replyAsync for a reply, emitAsync for a signal)`],
  [A.R_SEND_QUOTA_MSGS]: [[A.ENOBUFS], (n) => `the receiver's per-user quota allows ${n} queued messages, and this sending user (its uid: the connections of every thread with that uid count together) has ${n} queued there (sendAsync waits for room, replyAsync for a reply, emitAsync for a signal)`],
  [A.R_SEND_QUOTA_USERS]: [[A.ENOBUFS], (n) => `the receiver's quota table is full: ${n} other sending users have messages queued there`],
  [A.R_SEND_POOL_FULL]: [[A.EXFULL], (n) => `the receiver's pool is full: no free block of ${n} bytes for this message (received messages not yet freed stay in the pool)`],
  [A.R_SEND_NOT_PENDING]: [[A.EINVAL], () => 'no SEND of this thread is pending'],
  [A.R_SEND_CALLS_MAX]: [[A.EMLINK], (n) => `the caller already has ${n} calls waiting for their replies (MAX_PENDING_REPLIES)`],
  [A.R_SEND_REPLY_TABLE_FULL]: [[A.ENOSPC], (n) => (n === 0 ? 'this bus has no reply records (limits.replies: 0): no call can be made on it' : `every one of the bus's ${n} reply records is in use by a pending call (limits.replies)`)],
  [A.R_SEND_REPLY_NO_CALL]: [[A.EBADSLT], () => 'this reply (cookie_reply) answers no pending call: none from its destination to the sender with that cookie (never made, answered already, timed out, or dropped)'],

  [A.R_RECV_DROP_PRIORITY]: [[A.EINVAL], () => 'RECV_DROP cannot be combined with RECV_USE_PRIORITY'],
  [A.R_RECV_EMPTY]: [[A.EAGAIN], () => 'no message in the queue'],
  [A.R_RECV_REPLY_FLAGS]: [[A.EINVAL], () => 'RECV_REPLY cannot be combined with RECV_PEEK, RECV_DROP or RECV_USE_PRIORITY'],
  [A.R_RECV_NO_REPLY]: [[A.EAGAIN], () => 'no reply for that call (cookie 0: for any call) in the queue'],
  [A.R_FREE_OFFSET]: [[A.ENXIO], (_, w) => `offset${q(w.offset)} is not a slice published to this connection (received and not yet freed)`],
  [A.R_BYEBYE_QUEUED]: [[A.EBUSY], (n) => `${n} message(s) are still queued: receive or drop them first`],
  [A.R_BYEBYE_RESERVED]: [[A.EBUSY], (n) => `${n} send(s) into this connection are still being copied`],

  [A.R_JOIN_NO_BUS]: [[A.EBADF], () => 'no bus in this memory'],
  [A.R_JOIN_ALREADY]: [[A.EALREADY], () => 'this thread has joined the bus already'],
  [A.R_JOIN_FULL]: [[A.EUSERS], (n) => `all ${n} thread slots are taken (limits.threads)`],
  [A.R_LEAVE_CONNS_OPEN]: [[A.EBUSY], () => 'this thread still owns open connections: close them first'],
  [A.R_LEAVE_STAGING_LOCK]: [[A.EBUSY], (n) => `connection slot ${n}, which another thread closed, keeps this thread's staging slices, and its lock was taken at that moment: leave again`],
  [A.R_THREAD_RECOVERED]: [[A.ESRCH], () => 'this thread was recovered by another one'],
  [A.R_RECOVER_TOKEN]: [[A.EINVAL], () => 'token 0 belongs to no thread'],
  [A.R_RECOVER_SELF]: [[A.EINVAL], () => 'a thread cannot recover itself'],
  [A.R_RECOVER_NOT_LIVE]: [[A.ESRCH], () => 'no thread slot holds that token (it left, or was recovered already)'],
  [A.R_RECOVER_OWNED]: [[A.EALREADY], () => 'another live thread is recovering that thread'],
  [A.R_JOIN_TOKEN]: [[A.EINVAL], () => 'token 0 is never a thread\'s token'],
  [A.R_JOIN_RECOVERED]: [[A.ESRCH], () => 'this thread was declared dead while it joined'],
  [A.R_JOIN_TOKEN_IN_USE]: [[A.EBUSY], () => 'another thread holds this token: a handle joins one thread (bus.handle() makes one per worker)'],

  [A.R_MATCH_SENDER_KIND]: [[A.EOPNOTSUPP], () => 'a monitor, activator or policy holder cannot add or remove match rules'],
  [A.R_MATCH_BLOOM_SIZE]: [[A.EDOM], (n) => `a BLOOM_MASK must be a non-zero multiple of the bus's bloom size (${n} bytes), one block per generation`],
  [A.R_MATCH_BLOOM_GENERATIONS]: [[A.EMSGSIZE], (n) => `a BLOOM_MASK may hold at most ${n} generations on this bus (a match entry's room)`],
  [A.R_MATCH_ITEM_SIZE]: [[A.EINVAL], (t) => `the ${itemName(t)} rule has the wrong size`],
  [A.R_MATCH_MIXED]: [[A.EINVAL], (t) => `the ${itemName(t)} notification rule cannot share an entry with another rule (it could never match): add it as its own entry`],
  [A.R_MATCH_NAME_UNSUPPORTED]: [[A.EOPNOTSUPP], (t) => `${itemName(t)} rules naming a well-known name are not supported (no longer reported)`],
  [A.R_MATCH_PER_CONN]: [[A.EMFILE], (n) => `the connection has ${n} match entries already (MAX_MATCHES_PER_CONN)`],
  [A.R_MATCH_TABLE_FULL]: [[A.ENFILE], (n) => `all ${n} entries of the bus's match table are in use (limits.matches)`],
  [A.R_MATCH_NO_COOKIE]: [[A.EBADSLT], () => 'no match entry of this connection has that cookie'],
  [A.R_SEND_BCAST_HOST_VEC]: [[A.EOPNOTSUPP], () => 'a broadcast\'s payload must lie in the shared memory (the command area or the user region), not in host vectors (no longer reported)'],
  [A.R_SEND_BCAST_STAGING]: [[A.ENOBUFS, A.EXFULL], (n) => `this connection's own pool cannot hold the broadcast's staging slice (${n} bytes), charged there to this connection's user as a message from it would be: at most a sixth of the pool, less what that user's messages queued there hold (the messages of every thread of the process: one user), or the pool is full: the payload is copied there once, then to each receiver`],
  [A.R_BCAST_BUS_LOCK]: [[A.EDEADLK], () => `the broadcast waited at a contended receiver and could not take the bus lock back (its match entries' NAME rules need it) within ${A.LOCK_WAIT_MS} ms, or its holder is not alive: the receivers after that point did not get it (a staged broadcast's reservation stays: cancel it)`],
  [A.R_ASIDE_NOT_STAGED]: [[A.EINVAL], () => 'this thread has no staged broadcast under way to set aside (send_aside: OP_BCAST, not yet delivered to every receiver)'],
  [A.R_ASIDE_TAKEN]: [[A.EBUSY], () => 'the sender\'s connection already has a staged broadcast set aside (one per connection)'],
  [A.R_ASIDE_NOT_OWNER]: [[A.EPERM], (n) => `the connection is another thread's (thread slot ${n} said its HELLO): only that thread sets aside, resumes or abandons its staged broadcasts`],
  [A.R_RESUME_NONE]: [[A.EINVAL], () => 'no staged broadcast is set aside on this connection (send_resume)'],
  [A.R_MATCH_NAME_INVALID]: [[A.EINVAL], (t) => `the name of the ${itemName(t)} rule is not a NUL-terminated well-known name (${NAME_RULE})`],
  // names issue
  [A.R_NAME_MISSING]: [[A.EINVAL], () => 'the command has no NAME item'],
  [A.R_NAME_INVALID]: [[A.EINVAL], (_, w) => `${w.name === undefined ? 'the name' : JSON.stringify(w.name)} is not a well-known name (${NAME_RULE})`],
  [A.R_NAME_CONN_LIMIT]: [[A.E2BIG], (n) => `this connection already owns or queues for ${n} names (MAX_NAMES_PER_CONN)`],
  [A.R_NAME_TABLE_FULL]: [[A.ENFILE], (n) => `the bus's name table is full (${n} owner records: limits.names)`],
  [A.R_NAME_TAKEN]: [[A.EEXIST], (_, w) => `another connection owns${q(w.name)} and does not allow replacement (or replaceExisting was not asked), and queue was not asked`],
  [A.R_NAME_UNKNOWN]: [[A.ESRCH], (_, w) => `no connection owns${q(w.name)}`],
  [A.R_NAME_NOT_OWNER]: [[A.EADDRINUSE], (_, w) => `this connection neither owns nor queues for${q(w.name)}`],
  [A.R_SEND_NAME_DST_ID]: [[A.EREMCHG], (_, w) => `the destination id is not the id of the owner of the name${q(w.dst)}`],
  [A.R_LIST_POOL_FULL]: [[A.EXFULL], (n) => `no room in the pool for the list (${n} bytes needed)`],
  [A.R_UPDATE_ATTACH_ITEM]: [[A.EINVAL], (t) => `the ${itemName(t)} item must be ${A.ATTACH_ITEM_SIZE} bytes (a header and one u64 mask)`],
  [A.R_UPDATE_ATTACH_SEND]: [[A.EINVAL], () => `attachSend has bits outside ATTACH.all (${HEX(A.ATTACH_ALL)})`],
  [A.R_UPDATE_ATTACH_RECV]: [[A.EINVAL], () => `attachRecv has bits outside ATTACH.all (${HEX(A.ATTACH_ALL)})`],
  [A.R_UPDATE_POLICY]: [[A.EOPNOTSUPP], (t) => `${itemName(t)} items update an activator's or policy holder's policy entries; policies are not supported`],
  [A.R_INFO_ATTACH]: [[A.EINVAL], () => `the attach flags asked for have bits outside ATTACH.all (${HEX(A.ATTACH_ALL)})`],
  [A.R_INFO_NO_ID]: [[A.EINVAL], () => 'CONN_INFO needs a connection id (or a name)'],
  [A.R_INFO_NO_CONN]: [[A.ENXIO], () => 'no open connection has that id'],
  [A.R_INFO_POOL_FULL]: [[A.EXFULL], (n) => `the caller's pool has no free block of ${n} bytes for the answer`],
  [A.R_INFO_ID_AND_NAME]: [[A.EINVAL], () => 'CONN_INFO takes an id or a name, not both'],
  [A.R_INFO_NAME_NO_OWNER]: [[A.ESRCH], (_, w) => `no connection owns${q(w.name)}`],
  [A.R_INFO_BY_NAME]: [[A.EOPNOTSUPP], () => 'CONN_INFO by name needs the name registry, which is not built yet'],
  // backpressure and quotas (issue 10)
  [A.R_MAKE_MAX_QUEUED]: [[A.EINVAL], (n) => `max_queued_per_user must be at most ${n} (limits.maxQueuedPerUser; 0 means kdbus's ${A.MAX_QUEUED_PER_USER})`],
  [A.R_SEND_NEVER_FITS]: [[A.ENOBUFS], (n, w) => `the message can never fit in the receiver${qr(w.dst)}: a sending user may hold at most ${n} bytes of its pool (half the pool, which its owner keeps, divided by 3: the kdbus quota rule), and this message, with its header, items and metadata, needs more; waiting does not help`],
  // batches (SEND_BATCH)
  [A.R_RECV_BATCH_FLAGS]: [[A.EINVAL], () => 'RECV_BATCH cannot be combined with another RECV flag'],
  [A.R_RECV_BATCH_SIZE]: [[A.EINVAL], (n) => `a RECV_BATCH command is ${n} bytes and 8 per entry, with at least one entry`],
  [A.R_RECV_BATCH_FREE]: [[A.EINVAL], (n) => `RECV_BATCH free_count is larger than its ${n} entries`],
  [A.R_SEND_BATCH_KIND]: [[A.EINVAL], () => 'a batch (sendMany) is of plain unicast messages: not a broadcast, a signal, a call (EXPECT_REPLY) or a reply'],
  [A.R_SEND_BATCH_VEC]: [[A.EINVAL], () => 'each message of a batch (sendMany) is one PAYLOAD_VEC of bytes in shared memory: a batch has at least one, and no host vec or padding (address 0)'],
  [A.R_SEND_BATCH_FLAGS]: [[A.EINVAL], () => 'SEND_BATCH cannot be combined with SEND_SYNC_REPLY or SEND_PROBE'],
};

/** Address of the reason word for the command at `cmd` (0: the caller has no command area). */
const NONE: Context = {};

export function reasonAddr(cmd: number): number {
  return cmd === 0 ? 0 : cmd - A.THREAD_CMD + A.THREAD_REASON;
}

/**
 * The message for a core result -errno of command `command` ('SEND') run at `cmd`: its
 * reason's text (quoting from `what` the values the host passed), or the errno's.
 */
export function reasonText(u32: Uint32Array, cmd: number, errno: number, command: string, what: Context = NONE): { reason: number; text: string } | null {
  const at = reasonAddr(cmd);
  if (at === 0) return null;
  const reason = u32[at >>> 2], arg = u32[(at + 4) >>> 2];
  const entry = REASONS[reason];
  if (!entry || !entry[0].includes(errno)) return null; // not a report of this failure
  return { reason, text: `${command}: ${entry[1](arg, what)}` };
}

/**
 * The host's text for reason `reason` (an `abi.R_*` number, as a raw command left it in
 * `THREAD_REASON`) with its argument `arg` (`THREAD_REASON_ARG`), and the errnos it goes
 * with; null for a number that is no reason. The text is the one a `BusError` carries after
 * the command's name (`SEND: ...`), without the values only the API knows (a name, an id).
 */
export function describeReason(reason: number, arg = 0): { errnos: number[]; text: string } | null {
  if (!Number.isInteger(reason) || !Object.hasOwn(REASONS, reason)) return null;
  const entry = REASONS[reason];
  return { errnos: [...entry[0]], text: entry[1](Number.isInteger(arg) ? arg >>> 0 : 0, NONE) };
}

/** The BusError for core result `r` (< 0) of `command` run at `cmd`, thrown by the API call `op`. */
export function commandError(u32: Uint32Array, cmd: number, r: number, op: string, command: string, what?: Context): BusError {
  const t = reasonText(u32, cmd, -r, command, what);
  return t ? new BusError(-r, op, t.text, t.reason) : new BusError(-r, op);
}

/** `r` when it is not negative; else throws commandError. (Per message: allocates nothing unless it throws.) */
export function checkCmd(u32: Uint32Array, cmd: number, r: number, op: string, command: string, what?: Context): number {
  if (r < 0) throw commandError(u32, cmd, r, op, command, what);
  return r;
}
