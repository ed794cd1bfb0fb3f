/** A growable bit set stored as base64, for "which chunks are complete". */

export function hasBit(b64: string, i: number): boolean {
  const bytes = Buffer.from(b64, "base64");
  const byte = bytes[i >> 3];
  return byte !== undefined && (byte & (1 << (i & 7))) !== 0;
}

export function setBit(b64: string, i: number): string {
  let bytes = Buffer.from(b64, "base64");
  if (bytes.length <= i >> 3) bytes = Buffer.concat([bytes, Buffer.alloc((i >> 3) + 1 - bytes.length)]);
  bytes[i >> 3] = (bytes[i >> 3] ?? 0) | (1 << (i & 7));
  return bytes.toString("base64");
}
