// What demo/hello.mjs and demo/hello.worker.mjs print for one received message: who sent it,
// its metadata (TIMESTAMP, CREDS) and where its payload was read. Call before m.free().

const strict = new TextDecoder('utf-8', { fatal: true });
const hex = (n, w) => '0x' + n.toString(16).padStart(w, '0');

/** Where the payload is: a view of the bus memory inside the receiver's pool (no copy)? */
export function where(m, bus) {
  const view = m.payload; // zero-copy: a Uint8Array over the shared memory
  const base = m.conn.poolBase;
  const inPlace = view.buffer === bus.memory.buffer &&
    view.byteOffset >= base && view.byteOffset + view.length <= base + m.conn.poolSize;
  return { view, inPlace, poolOffset: view.byteOffset - base, address: view.byteOffset };
}

/** The payload, short: "text", {json}, or hex bytes. Copies (a decoder refuses shared views). */
export function short(view) {
  const copy = view.slice();
  let text;
  try { text = strict.decode(copy); } catch { text = null; }
  if (text !== null && /^[\x20-\x7e]*$/.test(text)) {
    const s = text.startsWith('{') ? text : JSON.stringify(text);
    return s.length > 60 ? s.slice(0, 57) + '...' : s;
  }
  const bytes = Array.from(copy.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `bytes ${bytes}${copy.length > 8 ? ' ...' : ''}`;
}

/** A D-Bus message, short: "call org.example.Worker.Hello("hi")" or "signal ...Done(...)". */
export function dbusShort(d) {
  const h = d.header;
  const s = `${h.type === 'signal' ? 'signal' : 'call'} ${h.interface}.${h.member}(${d.body.map((v) => JSON.stringify(v)).join(', ')})`;
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

/** Nanoseconds since the epoch as a time of day, UTC, to the microsecond. */
function timeOfDay(ns) {
  const us = ns / 1000n;
  return new Date(Number(us / 1000n)).toISOString().slice(11, 23) + String(us % 1000n).padStart(3, '0');
}

/** One line per received message. `names`: id → name, as far as the receiver knows. */
export function describeLine(m, receiver, names, bus) {
  const from = names.get(m.src) ?? `:1.${m.src}`;
  const ts = m.timestamp, creds = m.creds;
  const w = where(m, bus);
  const meta = [
    ts ? `seq ${String(ts.seqnum).padStart(2)}  ${timeOfDay(ts.realtimeNs)} mono ${(Number(ts.monotonicNs / 1000n) / 1e6).toFixed(6)} s` : 'no TIMESTAMP',
    creds ? `uid ${creds.uid} gid ${creds.gid}` : 'no CREDS',
  ].join('  ');
  const place = w.inPlace
    ? `in place at pool+${hex(w.poolOffset, 4)} (memory ${hex(w.address, 8)})`
    : `NOT in the receiver's pool (byteOffset ${w.address})`;
  const what = m.dbus ? dbusShort(m.dbus) : short(w.view);
  return `  ${receiver.padEnd(8)} <- ${from.padEnd(8)} (:1.${m.src})  ${meta}  | ${String(w.view.length).padStart(3)} B ${place}  ${what}`;
}

/** The well-known name of worker n, and the object and interface every worker exports. */
export const workerName = (n) => `org.example.Worker${n}`;
/** The main thread's well-known name: the workers send their Done signal to it. */
export const MAIN = 'org.example.Main';
export const WORKER = Object.freeze({ path: '/org/example/Worker', interface: 'org.example.Worker' });
