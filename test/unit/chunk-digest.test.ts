import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { chunkListDigest, matchesFileDigest } from "../../shared/chunk-digest.ts";

const sha = (s: string | Buffer): string => createHash("sha256").update(s).digest("hex");

/** Two chunks of a 5-byte file, "abc" and "de". */
const CHUNKS = [
  { offset: 0, size: 3, sha256: sha("abc") },
  { offset: 3, size: 2, sha256: sha("de") },
];

describe("chunkListDigest", () => {
  it("is SHA-256 over the tag line and one `<offset> <size> <sha256>` line per chunk, as the README defines it", () => {
    // What anyone can recompute with sha256sum: printf 'ferry-chunk-list-v1\n0 3 <h1>\n3 2 <h2>\n' | sha256sum
    const text = `ferry-chunk-list-v1\n0 3 ${sha("abc")}\n3 2 ${sha("de")}\n`;
    expect(chunkListDigest(CHUNKS)).toBe(sha(text));
  });

  it("changes when a chunk's bytes, their order or a cut changes", () => {
    const d = chunkListDigest(CHUNKS);
    expect(chunkListDigest([CHUNKS[0]!, { offset: 3, size: 2, sha256: sha("dx") }])).not.toBe(d);
    // The same bytes cut elsewhere: "ab" + "cde" is the same file but another chunk list.
    expect(
      chunkListDigest([
        { offset: 0, size: 2, sha256: sha("ab") },
        { offset: 2, size: 3, sha256: sha("cde") },
      ]),
    ).not.toBe(d);
    expect(chunkListDigest([CHUNKS[0]!])).not.toBe(d);
  });

  it("refuses a list with a gap or an overlap, naming the chunk", () => {
    expect(() => chunkListDigest([CHUNKS[0]!, { ...CHUNKS[1]!, offset: 4 }])).toThrow(
      /chunk 1 starts at byte 4, not 3/,
    );
    expect(() => chunkListDigest([{ ...CHUNKS[0]!, offset: 1 }])).toThrow(/chunk 0 starts at byte 1, not 0/);
  });
});

describe("matchesFileDigest", () => {
  it("accepts the plain SHA-256 of the bytes read or the chunk-list digest of the chunks read, nothing else", () => {
    const plain = sha("abcde");
    expect(matchesFileDigest(plain, plain, CHUNKS)).toBe(true);
    expect(matchesFileDigest(chunkListDigest(CHUNKS), plain, CHUNKS)).toBe(true);
    expect(matchesFileDigest(sha("abcdf"), plain, CHUNKS)).toBe(false);
    expect(matchesFileDigest(chunkListDigest(CHUNKS), sha("abcdf"), [CHUNKS[0]!])).toBe(false);
    expect(matchesFileDigest(chunkListDigest(CHUNKS), plain, [CHUNKS[0]!, { ...CHUNKS[1]!, offset: 4 }])).toBe(false);
  });
});
