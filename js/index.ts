// wasmbus: the public API.
export { Bus, DEFAULT_LIMITS, defaultProvider } from './bus.ts';
export type { BusOptions, BusLimits, ConnectOptions, BusHandle, JoinOptions, WatchResult, ExitEmitter, DefaultProviderOptions } from './bus.ts';
export { Connection, PAYLOAD_WASMBUS, BATCH_MAX, RECV_BATCH_MAX, SEND_MANY_MAX } from './connection.ts';
export type { SendOptions, RecvOptions, RecvAsyncOptions, Destination } from './connection.ts';
export type { SendAsyncOptions, EmitAsyncOptions, CloseOptions } from './connection.ts';
export { Message } from './message.ts';
export type { Timestamp } from './message.ts';
export { BusError, errnoCode, errnoMessage } from './errno.ts';
export { describeReason } from './cmd/reasons.ts';
export { ATTACH, attachMask } from './attach.ts';
export type { AttachName, AttachSpec } from './attach.ts';
export { MockProvider } from './host/mock.ts';
export type { MockOptions } from './host/mock.ts';
export type { Provider, Creds, Pids, Caps, Audit } from './host/provider.ts';
export { WebProvider } from './host/provider.ts';
export type { MockIdentity, MockCaps, PartialCreds } from './host/mock.ts';
export { WasmEngine, TwinEngine, MAKE_CMD_ADDR, busLayout, busPages } from './engine.ts';
export type { Engine, EngineKind } from './engine.ts';
export { loadCore } from './host/load.ts';
export * as abi from './shared/abi.ts';
export * as metaLimits from './shared/meta-limits.ts';
export { ABI_FINGERPRINT } from './shared/fingerprint.ts';
export * as dbus from './dbus/index.ts';
export { PAYLOAD_DBUS } from './dbus/header.ts';
export { busStats, connStats, checkBus, checkIds, checkNames, checkReplies, checkMatches, layoutErrors } from './health.ts';
export type { BusStats, ConnStats, ThreadStats, LockStats } from './health.ts';
export type { MessagesOptions, MessageIterator } from './iterate.ts';
export type { ListenOptions, Listener } from './listen.ts';
export type { RequestNameOptions, ListOptions, ListEntry, AcquireResult } from './names.ts';
export type { OwnedName, MetadataItems } from './metadata.ts';
export type { ConnectionInfo, UpdateOptions, InfoOptions } from './conn-info.ts';
export type { CallOptions, CallSyncOptions } from './calls.ts';
export type { MatchSpec, MatchInput, SignalSpec, SignalHandler, WaitForNameOptions } from './signals.ts';
export type { Notification, NotificationKind } from './notification.ts';
export type { LockWatchResult, WatchLockOptions } from './bus.ts';
export { DBusError, DBUS_ERROR } from './dbus/error.ts';
export type { MethodCall, MethodHandler, BareMethodHandler, MethodSpec, Methods, ExportOptions, MethodCallSpec } from './objects.ts';
// (types that API.md's signatures name, exported under their own names too, as well as dbus.*: a
// user could not import them, and a wrapping library's declarations could not name them: an
// outside audit, stop 49)
export type { MatchRule } from './dbus/match.ts';
export type { DBusMessage, DBusHeader } from './dbus/header.ts';
export type { Spinner } from './host/spin.ts';
export type { WasmMemory, WasmModule, WasmMemoryFallback, WasmModuleFallback } from './host/wasm-types.ts';
export { BUSY_POLL_MAX_US, POLL_MISSES, POLL_REST } from './host/spin.ts';
