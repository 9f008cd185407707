// describe: a received wasmbus Message as a plain, structured-cloneable object (for the page,
// for postMessage from a worker, and for window.__result). Call it before m.free().

const strict = new TextDecoder('utf-8', { fatal: true });

/**
 * @param {import('../../dist/js/index.js').Message} m
 * @param {string} receiver the receiving connection's name: 'page' | 'worker-1' | ...
 * @param {string} how      how it was received: 'recvAsync' | 'recvWait' | 'recv'
 */
export function describe(m, receiver, how) {
  const view = m.payload; // zero-copy: a view of the receiver's pool in the shared memory
  const base = m.conn.poolBase;
  const inPlace = view.buffer === m.conn.engine.memory.buffer &&
    view.byteOffset >= base && view.byteOffset + view.length <= base + m.conn.poolSize;
  const copy = view.slice(); // browsers refuse to decode a view of a SharedArrayBuffer: copy first
  let kind = 'bytes', text = null, json = null;
  const d = m.dbus; // a D-Bus message (payload type DBusDBus): a method call, its reply, a signal
  if (d) {
    const h = d.header;
    kind = 'dbus';
    text = `${h.type === 'signal' ? 'signal' : 'call'} ${h.interface}.${h.member}(${d.body.map((v) => JSON.stringify(v)).join(', ')})`;
    json = { type: h.type, interface: h.interface, member: h.member, body: d.body };
  } else try {
    text = strict.decode(copy);
    kind = 'text';
    if (/^\s*[[{"]/.test(text)) {
      try { json = JSON.parse(text); kind = 'json'; } catch { /* just text */ }
    }
  } catch { /* not UTF-8: binary */ }
  const ts = m.timestamp, creds = m.creds;
  return {
    receiver,
    how,
    src: m.src,
    dst: m.dst,
    cookie: m.cookie,
    kind,
    size: copy.length,
    bytes: Array.from(copy.subarray(0, 32)),
    text,
    json,
    inPlace,
    poolOffset: view.byteOffset - base, // where the receiver read it: its own pool, this offset
    address: view.byteOffset,           // ... which is this address in the bus memory
    itemTypes: m.itemTypes,
    timestamp: ts && {
      seqnum: ts.seqnum,
      monotonicNs: String(ts.monotonicNs),
      realtimeNs: String(ts.realtimeNs),
      realtime: isoNs(ts.realtimeNs),
    },
    creds: creds && { ...creds },
  };
}

/** A realtime clock in ns as ISO 8601 with all nine fraction digits. */
function isoNs(ns) {
  const sec = ns / 1000000000n;
  return `${new Date(Number(sec) * 1000).toISOString().slice(0, 19)}.${String(ns - sec * 1000000000n).padStart(9, '0')}Z`;
}

/** A short rendering of the payload for the page and the log. */
export function payloadText(d) {
  if (d.kind === 'json') return JSON.stringify(d.json);
  if (d.kind === 'text') return JSON.stringify(d.text);
  if (d.kind === 'dbus') return d.text;
  const shown = d.bytes.slice(0, 8).map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `${shown}${d.size > 8 ? ' …' : ''} (${d.size} B)`;
}
