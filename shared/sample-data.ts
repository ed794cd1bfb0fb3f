import { randomFillSync } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { join } from "node:path";

/** Writes `size` bytes produced by `piece(n)` (n ≤ 4 MiB) to `path`, in pieces, honouring backpressure. */
export async function writeGenerated(path: string, size: number, piece: (n: number) => Buffer): Promise<void> {
  const out = createWriteStream(path);
  let left = size;
  while (left > 0) {
    const b = piece(Math.min(left, 4 * 1024 * 1024));
    left -= b.length;
    if (!out.write(b)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
}

const randomPiece = (n: number): Buffer => randomFillSync(Buffer.allocUnsafe(n));

/** Writes `size` random bytes to `path`; memory stays bounded whatever the size. */
export const writeRandomFile = (path: string, size: number): Promise<void> => writeGenerated(path, size, randomPiece);

/** JSON lines that look like a tokenised text corpus, exactly `size` bytes long. */
function jsonlPiece(state: { n: number }) {
  return (max: number): Buffer => {
    const lines: string[] = [];
    let len = 0;
    while (len < max) {
      const line = `${JSON.stringify({ id: state.n++, text: `sample ${state.n} of the demo corpus`, tokens: [state.n % 50257, (state.n * 7) % 50257] })}\n`;
      lines.push(line);
      len += line.length;
    }
    return Buffer.from(lines.join("")).subarray(0, max);
  };
}

function csvPiece(state: { n: number }) {
  return (max: number): Buffer => {
    const rows: string[] = [];
    let len = 0;
    while (len < max) {
      const row = `${state.n++},${(state.n * 0.37).toFixed(3)},${(state.n % 10) / 10},label_${state.n % 7}\n`;
      rows.push(row);
      len += row.length;
    }
    return Buffer.from(rows.join("")).subarray(0, max);
  };
}

/** The demo's sample dataset: one large tensor-like shard, a JSONL corpus, a CSV table, a tiny and an empty file. */
export async function generateDemoData(dir: string, bigSize: number): Promise<string[]> {
  const files = [
    { name: "shard-00000.bin", size: bigSize, piece: randomPiece },
    { name: "corpus.jsonl", size: 24 * 1024 * 1024 + 123, piece: jsonlPiece({ n: 0 }) },
    { name: "features.csv", size: 6 * 1024 * 1024 + 7, piece: csvPiece({ n: 0 }) },
    {
      name: "README.txt",
      size: 40,
      piece: (n: number) => Buffer.from("ferry demo dataset: generated, not real.\n").subarray(0, n),
    },
    { name: "empty.bin", size: 0, piece: () => Buffer.alloc(0) },
  ];
  const paths: string[] = [];
  for (const f of files) {
    const p = join(dir, f.name);
    await writeGenerated(p, f.size, f.piece);
    paths.push(p);
  }
  return paths;
}
