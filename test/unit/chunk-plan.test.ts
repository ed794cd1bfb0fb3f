import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type ChunkSpan, planChunks } from "../../shared/sources/chunk-plan.ts";

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

/** mulberry32: the same cases on every run, and a failing case names the seed that makes it. */
function random(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** Lines of random lengths (empty ones, and some longer than a chunk), with or without a final newline. */
function lines(rand: (n: number) => number, chunkSize: number): Buffer {
  const parts: string[] = [];
  for (let i = rand(12); i >= 0; i--) parts.push("x".repeat(rand(3) === 0 ? rand(3 * chunkSize) : rand(chunkSize)));
  return Buffer.from(parts.join("\n") + (rand(2) === 0 ? "\n" : ""));
}

/** The plan without record boundaries, computed independently: cuts at every multiple of chunkSize. */
function exactCuts(size: number, chunkSize: number): ChunkSpan[] {
  return Array.from({ length: Math.ceil(size / chunkSize) }, (_, index) => ({
    index,
    offset: index * chunkSize,
    size: Math.min(chunkSize, size - index * chunkSize),
  }));
}

/**
 * What is wrong with a record-boundary plan of `data`: chunks that do not cover every byte once in
 * order or exceed chunkSize; a cut not just after a newline unless forced (a chunk of chunkSize bytes
 * holding no newline at all: a record longer than a chunk); a cut before a later newline the chunk
 * still had room for (each chunk ends after the last newline within chunkSize).
 */
function boundaryProblems(data: Buffer, spans: ChunkSpan[], chunkSize: number): string[] {
  const out: string[] = [];
  let end = 0;
  for (const [i, s] of spans.entries()) {
    const at = `chunk ${i} (${s.offset}+${s.size})`;
    if (s.index !== i || s.offset !== end) out.push(`${at}: expected index ${i} at offset ${end}`);
    if (s.size < 1 || s.size > chunkSize) out.push(`${at}: size outside 1..${chunkSize}`);
    end = s.offset + s.size;
    if (end >= data.length) continue; // the last chunk ends where the file does
    const chunk = data.subarray(s.offset, end);
    if (data[end - 1] !== 0x0a) {
      if (chunk.includes(0x0a)) out.push(`${at}: splits a record after a newline it holds`);
      else if (s.size !== chunkSize) out.push(`${at}: forced cut short of chunkSize`);
    } else if (data.subarray(end, Math.min(data.length, s.offset + chunkSize)).includes(0x0a)) {
      out.push(`${at}: cut before a later newline within chunkSize`);
    }
  }
  if (end !== data.length) out.push(`chunks end at ${end} of ${data.length} bytes`);
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
    // Two newlines in the window: the cut follows the second.
    expect(await plan("a\nb\ncccccc\n", 6, true)).toEqual([
      { index: 0, offset: 0, size: 4 },
      { index: 1, offset: 4, size: 6 },
      { index: 2, offset: 10, size: 1 },
    ]);
  });

  it("cuts a record longer than a chunk where it must, and covers every byte exactly once", async () => {
    const text = `${"x".repeat(150_000)}\nshort\n${"y".repeat(10)}`;
    const spans = await plan(text, 65_536, true);
    expect(spans.map((s) => s.size)).toEqual([65_536, 65_536, text.length - 2 * 65_536]);
    expect(boundaryProblems(Buffer.from(text), spans, 65_536)).toEqual([]);
  });

  it("finds the last newline of a window many scan blocks back", async () => {
    // The only newline of the first 200 000 bytes is the 11th byte: the scan reads back through 64 KiB blocks.
    // The third window holds two newlines 50 000 bytes in, and the cut follows the second.
    const text = `${"a".repeat(10)}\n${"b".repeat(250_000)}\n${"c".repeat(5)}\n${"d".repeat(200_000)}`;
    const spans = await plan(text, 200_000, true);
    expect(spans).toEqual([
      { index: 0, offset: 0, size: 11 },
      { index: 1, offset: 11, size: 200_000 },
      { index: 2, offset: 200_011, size: 50_007 },
      { index: 3, offset: 250_018, size: 200_000 },
    ]);
    expect(boundaryProblems(Buffer.from(text), spans, 200_000)).toEqual([]);
  });

  it("on random lines, cuts only after a newline (or where a record outgrows a chunk), and at exact sizes without", async () => {
    const cuts = { afterNewline: 0, forced: 0 };
    for (let seed = 1; seed <= 300; seed++) {
      const rand = random(seed);
      const chunkSize = 1 + rand(40);
      const data = lines(rand, chunkSize);
      const spans = await plan(data, chunkSize, true);
      expect(boundaryProblems(data, spans, chunkSize), `seed ${seed}, chunkSize ${chunkSize}`).toEqual([]);
      for (const s of spans.slice(0, -1)) cuts[data[s.offset + s.size - 1] === 0x0a ? "afterNewline" : "forced"]++;
      expect(await plan(data, chunkSize, false), `seed ${seed}, chunkSize ${chunkSize}`).toEqual(
        exactCuts(data.length, chunkSize),
      );
    }
    // The cases exercise both kinds of cut, many times.
    expect(cuts.afterNewline).toBeGreaterThan(200);
    expect(cuts.forced).toBeGreaterThan(200);
  });

  it("started from where chunk k-1 ends, cuts exactly the chunks k, k+1, ... a plan from byte 0 cuts", async () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rand = random(seed);
      const chunkSize = 1 + rand(40);
      const data = lines(rand, chunkSize);
      const path = join(dir, `resume-${seed}`);
      writeFileSync(path, data);
      const fh = await open(path, "r");
      const full: ChunkSpan[] = [];
      for await (const s of planChunks(fh, data.length, chunkSize, true)) full.push(s);
      for (const k of [1, Math.floor(full.length / 2), full.length - 1].filter((k) => k > 0 && k < full.length)) {
        const prev = full[k - 1] as ChunkSpan;
        const rest: ChunkSpan[] = [];
        for await (const s of planChunks(fh, data.length, chunkSize, true, {
          index: k,
          offset: prev.offset + prev.size,
        }))
          rest.push(s);
        expect(rest, `seed ${seed}, from chunk ${k}`).toEqual(full.slice(k));
      }
      await fh.close();
    }
  });
});
