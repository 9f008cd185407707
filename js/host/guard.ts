// guard: one flag per thread, set while the bus runs code that is not the caller's own turn:
// a command (engine.ts run: the core calls the provider for clocks and credentials in the
// middle of it) or a clock read the host makes itself (Engine.monotonicNs, between a call's
// encoding and its send). A bus method called from there (a provider's callback) would run a
// second command over the first, or overwrite the bytes a call encoded and has not copied
// yet: the engine refuses it with EBUSY (engine.ts), and encodeTransient gives such a caller
// a buffer of its own (dbus/header.ts).
//
// One flag for every bus of the thread: the twin's core is one module per thread, its globals
// shared by every TwinEngine, so a command of another bus started from inside this one would
// run on this one's state.

/** `running`: a command or a host clock read of this thread is under way. */
export const guard = { running: false };
