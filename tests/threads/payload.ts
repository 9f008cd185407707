// payload: what a sender peer sends, so the receiver can check every byte.

/** The payload a sender sends: u32 index, u32 seq, then bytes derived from both. */
export function senderPayload(index: number, seq: number, size: number): Uint8Array {
  const b = new Uint8Array(Math.max(8, size));
  const dv = new DataView(b.buffer);
  dv.setUint32(0, index, true);
  dv.setUint32(4, seq, true);
  for (let i = 8; i < b.length; i++) b[i] = (index * 31 + seq * 7 + i) & 0xff;
  return b;
}
