// cmd: the host side of the command ABI, one module per command: offsets, encode (plain
// numbers written into the typed arrays of the command area, no allocation), decode of the
// results; items (write, walk) and reasons (the core's failure report as a message) shared.
// Used by the public API (bus.ts, connection.ts, message.ts), tests/helpers/raw.ts and bench/.
export * as MAKE from './make.ts';
export * as HELLO from './hello.ts';
export * as SEND from './send.ts';
export * as RECV from './recv.ts';
export * as FREE from './free.ts';
export * as BYEBYE from './byebye.ts';
export * as items from './items.ts';
export * as MATCH from './match.ts';
export * as NAMES from './name.ts';
export * as LIST from './list.ts';
export * as UPDATE from './update.ts';
export * as INFO from './info.ts';
export { putHeader, returnFlags } from './header.ts';
export { REASONS, reasonText, reasonAddr, commandError, checkCmd } from './reasons.ts';
