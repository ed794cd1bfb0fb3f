/**
 * stages/process/validate-jsonl.ts: every line of a chunk must be a JSON value, checked in pieces as
 * the chunk streams, so a line may arrive split anywhere, even inside one UTF-8 character.
 */
import { describe, expect, it } from "vitest";
import { PoisonMessageError } from "../../shared/errors.ts";
import { JsonlValidator } from "../../stages/process/validate-jsonl.ts";

type Piece = string | Uint8Array;
const bytes = (p: Piece): Uint8Array => (typeof p === "string" ? Buffer.from(p, "utf8") : p);

/** Feeds `pieces` to a validator of chunk `chunkIndex`, then ends it; returns what it threw, if anything. */
function validate(pieces: Piece[], chunkIndex = 0): unknown {
  const v = new JsonlValidator(chunkIndex);
  try {
    for (const p of pieces) v.update(bytes(p));
    v.end();
    return undefined;
  } catch (err) {
    return err;
  }
}

/** Every way to cut `text` into two pieces (the cut may fall inside a multi-byte character). */
function everyCut(text: Piece): Uint8Array[][] {
  const all = bytes(text);
  return Array.from({ length: all.length + 1 }, (_, at) => [all.subarray(0, at), all.subarray(at)]);
}

/** The error thrown for a bad line, which must be a PoisonMessageError (the chunk is dead-lettered, not retried). */
function poison(pieces: Piece[], chunkIndex = 0): PoisonMessageError {
  const err = validate(pieces, chunkIndex);
  expect(err).toBeInstanceOf(PoisonMessageError);
  return err as PoisonMessageError;
}

describe("JsonlValidator", () => {
  it("accepts lines of any JSON value, each ending in a newline", () => {
    expect(validate(['{"a":1}\n', "[1,2]\n", '"text"\n', "3.5\n", "null\n", "true\n"])).toBeUndefined();
  });

  it("accepts a chunk that is empty, or holds only empty and blank lines", () => {
    expect(validate([])).toBeUndefined();
    expect(validate([""])).toBeUndefined();
    expect(validate(["\n\n  \n\t\n"])).toBeUndefined();
  });

  it("names the line and the chunk of a bad line", () => {
    const err = poison(['{"ok":1}\n{"ok":2}\n{"broken":\n{"ok":4}\n'], 7);
    expect(err.message).toMatch(/^line 3 of chunk 7 is not valid JSON: /);
  });

  it("counts empty lines when numbering, so the number is the line's place in the chunk", () => {
    expect(poison(["\n\n{}\n\nnot json\n"], 2).message).toMatch(/^line 5 of chunk 2 /);
  });

  it("checks a last line without a newline when the chunk ends, and only then", () => {
    expect(validate(['{"a":1}\n{"b":2}'])).toBeUndefined();
    const v = new JsonlValidator(1);
    v.update(bytes('{"a":1}\n{"b":'));
    expect(() => v.end()).toThrow(/^line 2 of chunk 1 is not valid JSON/);
  });

  it("accepts CRLF line ends, and numbers lines the same way with them", () => {
    expect(validate(['{"a":1}\r\n{"b":2}\r\n\r\n[3]\r\n'])).toBeUndefined();
    expect(poison(["{}\r\n\r\n{oops}\r\n"], 0).message).toMatch(/^line 3 of chunk 0 /);
  });

  it("joins a line split across pieces at every byte, including between CR and LF", () => {
    const text = '{"key":"value","n":[1,2,3]}\r\n{"second":true}\n';
    for (const pieces of everyCut(text)) expect(validate(pieces)).toBeUndefined();
    const tiny = Array.from(bytes(text), (b) => Uint8Array.of(b));
    expect(validate(tiny)).toBeUndefined();
  });

  it("finds a bad line whatever the cut, with the same line number", () => {
    const text = '{"a":1}\n{"b":2,}\n{"c":3}\n';
    for (const pieces of everyCut(text)) expect(poison(pieces, 4).message).toMatch(/^line 2 of chunk 4 /);
  });

  it("decodes a UTF-8 character split across pieces as one character", () => {
    // 2-, 3- and 4-byte characters: every cut inside them must still validate.
    const text = '{"name":"Zoë","city":"東京","mood":"🙂"}\n';
    for (const pieces of everyCut(text)) expect(validate(pieces)).toBeUndefined();
    const emoji = bytes("🙂");
    const split = [bytes('{"e":"'), emoji.subarray(0, 1), emoji.subarray(1, 3), emoji.subarray(3), bytes('"}')];
    expect(validate(split)).toBeUndefined();
  });

  it("refuses a line that is not UTF-8, naming the line", () => {
    // 0xff never occurs in UTF-8; a lone continuation byte and a truncated character neither decode.
    for (const bad of [[0xff], [0x80], [0xe6, 0x9d]]) {
      const line = Buffer.concat([bytes('{"ok":1}\n{"s":"'), Uint8Array.from(bad), bytes('"}\n')]);
      expect(poison([line], 3).message).toMatch(/^line 2 of chunk 3 is not valid UTF-8/);
    }
  });

  it("does not keep a piece's buffer: a caller reusing it after update() cannot change a pending line", () => {
    const v = new JsonlValidator(0);
    const reused = Buffer.from('{"a":');
    v.update(reused);
    reused.fill(0x7b); // "{{{{{": would break the line if the validator had kept a view of it
    v.update(bytes("1}\n"));
    expect(() => v.end()).not.toThrow();
  });
});
