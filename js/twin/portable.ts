// portable: what AssemblyScript's builtins give the core and plain JavaScript lacks (the
// AssemblyScript compiler's own std/portable did the same for its TypeScript build).
// Types are numbers; a conversion is a real operation here, where asc's cast is free.

export type u8 = number;
export type u16 = number;
export type u32 = number;
export type i8 = number;
export type i16 = number;
export type i32 = number;
export type bool = boolean;

/** to u32, wrapping as a wasm i32 does (ToUint32) */
export function u32(x: number): number { return x >>> 0; }
/** to i32, wrapping (ToInt32) */
export function i32(x: number): number { return x | 0; }
export function u16(x: number): number { return x & 0xffff; }
export function u8(x: number): number { return x & 0xff; }
export function i16(x: number): number { return (x << 16) >> 16; }
export function i8(x: number): number { return (x << 24) >> 24; }
export function bool(x: number): boolean { return x != 0; }
