// core-inline: the core's bytes, base64, for the browser build. Empty here: scripts/build-dist.mjs
// fills it from build/core.wasm while it bundles dist/browser/wasmbus.js (generated at build
// time, never committed).
export const CORE_BASE64: string = '';
