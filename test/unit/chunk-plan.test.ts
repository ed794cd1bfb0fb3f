import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type ChunkSpan, planChunks } from "../../stages/ingest/chunk-plan.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-plan-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function plan(content: string | Buffer, chunkSize: number, records: boolean): Promise<ChunkSpan[]> {
  const path = join(dir, `f-${Math.random()}`);
  writeFileSync(path, content);
  const fh = await open(path, "r");
  const out: ChunkSpan[] = [];
  for await (const s of planChunks(fh, Buffer.byteLength(content), chunkSize, records)) out.push(s);
  await fh.close();
  return out;
}

describe("planChunks", () => {
  it("cuts exact sizes, with a short last chunk and none for an empty file", async () => {
    expect(await plan("", 4, false)).toEqual([]);
    expect(await plan("abcdefghij", 4, false)).toEqual([
      { index: 0, offset: 0, size: 4 },
      { index: 1, offset: 4, size: 4 },
      { index: 2, offset: 8, size: 2 },
    ]);
    expect(await plan("abcd", 4, false)).toEqual([{ index: 0, offset: 0, size: 4 }]);
  });

  it("ends each chunk after its last newline when cutting on record boundaries", async () => {
    const spans = await plan("aa\nbbb\ncccc\nd\n", 6, true);
    expect(spans).toEqual([
      { index: 0, offset: 0, size: 3 },
      { index: 1, offset: 3, size: 4 },
      { index: 2, offset: 7, size: 5 },
      { index: 3, offset: 12, size: 2 },
    ]);
  });

  it("cuts a record longer than a chunk where it must, and covers every byte exactly once", async () => {
    const text = `${"x".repeat(150_000)}\nshort\n${"y".repeat(10)}`;
    const spans = await plan(text, 65_536, true);
    expect(spans.reduce((n, s) => n + s.size, 0)).toBe(text.length);
    for (const [i, s] of spans.entries())
      expect(s.offset).toBe(i === 0 ? 0 : spans[i - 1]!.offset + spans[i - 1]!.size);
    expect(spans.every((s) => s.size <= 65_536)).toBe(true);
  });
});
