// dbus: D-Bus messages on wasmbus, the host side (docs/DBUS.md): the dbus1 header and body
// codec carried as payload type DBusDBus, match strings, sd-bus-compatible bloom filters and
// masks, and the bus's bloom check. The core stays payload-opaque.
export { PAYLOAD_DBUS, MESSAGE_TYPES, FIELD, MAX_MESSAGE, FLAG_NO_REPLY_EXPECTED, FLAG_NO_AUTO_START,
  FLAG_ALLOW_INTERACTIVE_AUTHORIZATION, messageSize, writeMessage, encodeMessage, readHeader, readMessage,
  withKdbusAddresses, checkKdbusEnvelope } from './header.ts';
export type { DBusHeader, DBusMessage, HeaderInfo, MessageType, KdbusEnvelope } from './header.ts';
export { sizeOf, write, encode, read, readAt, MAX_ARRAY, MAX_DEPTH } from './marshal.ts';
export type { Variant, ReadOptions } from './marshal.ts';
export { parseSignature, parseSingle, signatureError, isBasic, MAX_SIGNATURE, MAX_ARRAY_DEPTH, MAX_STRUCT_DEPTH } from './signature.ts';
export type { DType } from './signature.ts';
export { objectPathError, interfaceNameError, memberNameError, errorNameError, busNameError, namespaceError,
  uniqueName, uniqueNameId } from './names.ts';
export { parseMatch, formatMatch, matchesRule, MAX_ARG } from './match.ts';
export type { MatchRule, ParsedMatchRule, ArgMatch } from './match.ts';
export { Bloom, ElementList, BLOOM_DEFAULT, BLOOM_KEYS, bloomParamsError, prefixes, signalElements, signalFilter,
  ruleElements, ruleMask, bloomCheck } from './bloom.ts';
export type { BloomParams, BloomParamsLike, ElementSink } from './bloom.ts';
export { siphash24, siphash24Into, sipKey } from './siphash.ts';
export { DBusError, DBUS_ERROR } from './error.ts';
