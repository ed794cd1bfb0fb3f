/**
 * Throughput of the client-side encryption alone (no disk, no network): sealing and opening
 * segments in memory, with and without the hashing the encrypted upload and read add (HMAC of the
 * plaintext, SHA-256 of the ciphertext), next to plain SHA-256 of the same bytes for scale.
 */
import { createHash, randomBytes } from "node:crypto";
import { newFileKeys, plaintextMac } from "../client/encryption/envelope.ts";
import { keyIdOf } from "../client/encryption/key-file.ts";
import { openSegments, sealSegments } from "../client/encryption/segments.ts";
import { tap } from "../shared/hashing.ts";

const PIECE = 1024 * 1024;

async function* pieces(data: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += PIECE) yield data.subarray(at, at + PIECE);
}

async function drain(it: AsyncIterable<unknown>, keep?: Buffer[]): Promise<void> {
  for await (const x of it) keep?.push(x as Buffer);
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Runs each measurement `runs` times on `sizeBytes` of random data and returns one line per measurement (median MB/s). */
export async function benchEncryption(sizeBytes: number, runs: number): Promise<string[]> {
  const plain = randomBytes(sizeBytes);
  const key = randomBytes(32);
  const keys = newFileKeys({ path: "bench", keyId: keyIdOf(key), key }, "bench-file", sizeBytes);
  const span = { first: 0, last: keys.segments.total - 1 };
  const sealed: Buffer[] = [];
  await drain(sealSegments(keys.segments, 0, pieces(plain)), sealed);
  const cipher = Buffer.concat(sealed);
  sealed.length = 0;
  const cases: Array<[string, () => Promise<void>]> = [
    ["sha256 alone (for scale)", async () => void createHash("sha256").update(plain).digest()],
    ["encrypt (seal segments)", () => drain(sealSegments(keys.segments, 0, pieces(plain)))],
    [
      "encrypt as ingest --encrypt does (+ HMAC, + SHA-256)",
      () => drain(tap(sealSegments(keys.segments, 0, tap(pieces(plain), plaintextMac(keys))), createHash("sha256"))),
    ],
    ["decrypt (open segments)", () => drain(openSegments(keys.segments, span, pieces(cipher), "bench"))],
    [
      "decrypt as get/cat do (+ SHA-256, + HMAC)",
      async () => {
        const mac = plaintextMac(keys);
        for await (const s of openSegments(keys.segments, span, tap(pieces(cipher), createHash("sha256")), "bench"))
          mac.update(s.plain);
      },
    ],
  ];
  const lines: string[] = [];
  for (const [name, fn] of cases) {
    const rates: number[] = [];
    for (let i = 0; i < runs; i++) rates.push(sizeBytes / 1e6 / (await timed(fn)));
    const shown = (r: number) => r.toFixed(0).padStart(5);
    const all = rates.map((r) => r.toFixed(0)).join(", ");
    lines.push(`${name.padEnd(52)} median ${shown(median(rates))} MB/s, best ${shown(Math.max(...rates))} (${all})`);
  }
  return lines;
}
