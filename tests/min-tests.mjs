// min-tests: the fewest tests each suite must report per run (tests/run.mjs checks every run
// against it; tests/browser/conformance.test.mjs checks its Chromium runs of the conformance
// suite against the same minimum).

/**
 * The fewest tests (ran + skipped) each suite must report per run: a file that stopped
 * loading, a suite that lost its run() call or a pattern that matches too little fails the
 * run instead of passing quietly. Counts are per engine run. When you add tests, raise the
 * number; lower it only when you remove tests on purpose.
 */
export const MIN_TESTS = {
  'tests/conformance': 503, // stop 31: aborted calls' queued ends freed before a slot wait +1; stop 30: a yielding recvAsync has taken nothing, calls wait behind it, ESHUTDOWN +3, for await and recvAsync loops under a flood let timers run +2, a name that moves keeps one place per owner +1, sendAsync's op +1, one ticket per connection and receiver across timed-out waits +1; stop 29: a recovered thread's kept message +1; stop 28: a parked listener's done on a recovered thread, op listen +1; stop 27: busy polling +4; stop 26: watchLock of a thread recovered by another first +1, monitors' copies wait for a contended monitor +1, event-loop sends past a stuck monitor only look +1; stop 25: watchLock at close and shutdown +1, watch waits out another's claim +1, a join's liveness lock taken +1, BUS_MAKE outside the memory +1, calls in the slot line name call +1 (and the stops since 20 that left this number behind); stop 20: refused calls do not wake each other +1, a thread's own wake-ups leave its timers their turns +3, ETIMEDOUT behind a refused call +1; stop 19: a slice handed out twice +2, for await's shutdown +1, SEND_MANY_MAX +1, a send by name behind its connection's earlier ones +1, for await's batches +2, a waiting send's own copy +1, one shared wait per line +1, sendMany audit +2, waitForName's closed connection +1, pendingReceives +1; stop 18: SEND_BATCH / sendMany +10, RECV_BATCH and the listener's batches +12; stop 17: audits +12 (one abort listener per thread x3, bus.close ends waitForName, a non-core module, watch after shutdown, close({ drop }) x3, a name that moves keeps call order x3); stop 16: own-changes audit +1, calls audit +4, the slot line's own times +1, audits: unique names +1, provider answers +1, handler errors +1, OWNED_NAME sender +1, stop-15 audits +10 (HELLO's sleeper counts, a dead thread's pending call, a clock read's re-entry, shutdown's ESHUTDOWN, watch from the loop, recoverThreadAsync, the busy word, a dead holder's grace, MatchRule objects x2, lock timeouts), a pump's lock taken +1, options read once +1, threads audit +5, docs audit +1, re-entry +6, stop-14 audit +2, second audit +3, listen audit +3, burst spin +1, iterator options checked once +1, listen +10, close() EBUSY loses no call +1, replies 0 +1, third audit +3, errors name the method +1, addMatch/dispatch/waitForName args, refusals after shutdown +2, the pump stops +1, stop-12 audit fixes +12, stats of names, matches and calls +1, a receiver's close wakes its whole line +1, calls that lost their slot do not poll +1, a raw-ABI call's end while call() waits +1, RECV_REPLY 0 +1, dispatch's reply waits for room +1, call backpressure +4, call waits for a reply record +1, drop() with calls pending +1, a call abandoned on EDEADLK +1, a passer skips dead tickets +1, notifications owed by a dead thread +1, monitor export/dispatch +1, RECV_REPLY +1, call flood +1, SEND_PROBE +1, sendAsync fails at once +1, name moves +1, iterator promise +1, iterator return +1, a call's op +1, unsendable reply +1, kdbus envelope checks +1, mock real clock +1, async lock waits +3, dropped REPLY_TIMEOUT +3, kept messages queued +1, shutdown on the creator's thread +1, timer range +1, reply on another bus +1, EXFULL park +1, wake after unlock +1, deadlines +4, lossless2 +15, lossless broadcasts +11, match replace fix +1, inline send +1, replies +11, matches +9, shutdown +5, iterate +4, names +17, metadata +10, calls +9, signals +7, backpressure +10, handlers +7, owned names +6, turns +6, dropped +2, bcast names/staging +15, monitors +6, activators +6, recovery +4
  'tests/diff': 37, // stop 18: batches differential +6; calls differential +6, 8 seeds × 2 (differential) + 4 fuzz seeds + 4 more, owned names +1 (the mix's OWNED_NAME / TRUNCATED tally)
  'tests/threads': 46, // stop 30: a worker's timed-out sends keep one place +1; stop 19: the line's timers keep nothing alive +1; listen +1, waits on a dead lock leave the loop free +1, a burst of 1000 calls +1, one clock +1, evloop keep-alive timeouts +1, lossless2 +1, lossless broadcasts +1, inline send +1, calls +2, deathlock +2, handlers +3, owned names +1, turns +1, monitors +1 (stress: its own run below)
  'tests/threads deno': 57, // stop 30: a worker's timed-out sends keep one place +1; stop 28: a grant whose holder never joined +1, watchLock of a worker without a liveness lock +1, a rejoin keeps its realm's lock +1, a lockless thread beside another's lock +1, a failed join gives its lock back +1; stop 19: a worker that comes and goes between a watch's looks +1, the line's timers keep nothing alive +1; stop 17: watchLock after shutdown +1; listen +1, waits on a dead lock leave the loop free +1, a burst of 1000 calls +1, one clock +1, evloop keep-alive timeouts +1, lossless2 +1, lossless broadcasts +1, inline send +1, deathlock +6 on Deno (it has Web Locks), handlers +3, owned names +1, turns +1, monitors +1
  'tests/threads mixed': 2,
  // 3 per engine, + the mixed-engine variant on the wasm run; broadcasts +2 per engine (one mixed)
  'tests/threads stress': (engine) => (engine === 'wasm' ? 6 : 5),
  'tests/threads dist': 4,
  // npm start's output, once per engine (2 with WASMBUS_ENGINE=both) + the bad-argument run,
  // + the README's three-thread example (demo/threads/; readme +1)
  'tests/demo': 3,
  // engine-independent unit tests (providers, the D-Bus codec, bloom filters and match
  // strings): all under Node, and under Deno too
  'tests/unit': 68, // stop 30: the run of skips is the line's +1; stop 27: the layout's lines +3; stop 26: a listener's one keep-alive hold +4; stop 25: the codec's own arguments +1; stop 19: the line's watch +3; stop 17: API.md's members declared +1; stop-16 audit: U+FEFF, dict keys and plain objects, header keys +3; dbus refusals +1, clocks +1, kept header and bloom bits +2; dbusperf +3
  'tests/unit deno': 59, // stop 27: the layout's lines +3; stop 26: a listener's one keep-alive hold +4; stop 25: the codec's own arguments +1; stop 19: the line's watch +3; stop 17: API.md's members declared +1; stop-16 audit: U+FEFF, dict keys and plain objects, header keys +3; dbus refusals +1, clocks +1, kept header and bloom bits +2; dbusperf +3
  // 8 + a build per bundler (esbuild, webpack, Rollup, Vite) + each bundle in Chromium
  'tests/consumer': 16,
  // 2 server tests + one per page / worker engine pairing (4 with WASMBUS_ENGINE=both, else 1)
  // + 3 dead-worker tests (watchLock after terminate(), self.close(), a top-level throw)
  // + 1 page listener under a flood + 1 recoverThreadAsync of a worker still running
  // + 1 page sendAsync against a taken lock (stop 22)
  // + 1 watchLock of a live worker without a liveness lock (EOPNOTSUPP, stop 28)
  // + 1 a module worker that leaves and rejoins with its handle (stop 28)
  // one test per file of tests/conformance (41; busy-poll.test.ts +1, stop 27) + the check of
  // their tests' total against 'tests/conformance' above
  'tests/browser conformance': 42,
  'tests/browser': (engine) => 2 + (engine === 'both' ? 4 : 1) + 3 + 1 + 1 + 1 + 1 + 1,
};
