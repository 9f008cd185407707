// wasmbus: the public API.
export { Bus, DEFAULT_LIMITS, defaultProvider } from './bus.ts';
export type { BusOptions, BusLimits, ConnectOptions, BusHandle, JoinOptions, WatchResult, ExitEmitter } from './bus.ts';
export { Connection, PAYLOAD_WASMBUS } from './connection.ts';
export type { SendOptions, RecvOptions, RecvAsyncOptions, Destination } from './connection.ts';
export { Message } from './message.ts';
export type { Timestamp } from './message.ts';
export { BusError, errnoCode, errnoMessage } from './errno.ts';
export { ATTACH, attachMask } from './attach.ts';
export type { AttachName, AttachSpec } from './attach.ts';
export { MockProvider } from './host/mock.ts';
export type { MockOptions } from './host/mock.ts';
export type { Provider, Creds, Pids, Caps, Audit } from './host/provider.ts';
export type { MockIdentity } from './host/mock.ts';
export { WasmEngine, TwinEngine, MAKE_CMD_ADDR, busLayout, busPages } from './engine.ts';
export type { Engine, EngineKind } from './engine.ts';
export { loadCore } from './host/load.ts';
export * as abi from './shared/abi.ts';
