import { describe, expect, it } from "vitest";
import { parseByteRange, resolveByteRange } from "../../client/byte-range.ts";
import { InputError } from "../../shared/errors.ts";

describe("parseByteRange", () => {
  it("reads START-END, START- and -N", () => {
    expect(parseByteRange("0-99")).toEqual({ start: 0, end: 99 });
    expect(parseByteRange("5-5")).toEqual({ start: 5, end: 5 });
    expect(parseByteRange("1048576-")).toEqual({ start: 1048576 });
    expect(parseByteRange("-10")).toEqual({ suffix: 10 });
  });

  it.each([
    ["", "expected one dash"],
    ["100", "expected one dash"],
    ["1-2-3", "expected one dash"],
    ["-", "give a start, an end or both"],
    ["a-5", "the start is not a whole number"],
    ["5-b", "the end is not a whole number"],
    ["-1.5", "the suffix length is not a whole number"],
    [" 1-2", "the start is not a whole number"],
    ["10-5", "the end (5) is before the start (10)"],
    ["0-99999999999999999999", "the end is too large"],
  ])("refuses %j: %s", (text, why) => {
    const err = (() => {
      try {
        parseByteRange(text);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain(why);
    expect((err as Error).message).toContain("use START-END, START- or -N");
  });
});

describe("resolveByteRange", () => {
  it("is the whole file without a range, empty for an empty file", () => {
    expect(resolveByteRange(undefined, 100)).toEqual({ start: 0, end: 99, length: 100 });
    expect(resolveByteRange(undefined, 0)).toEqual({ start: 0, end: -1, length: 0 });
  });

  it("places inclusive ranges, open ends and suffixes", () => {
    expect(resolveByteRange({ start: 10, end: 19 }, 100)).toEqual({ start: 10, end: 19, length: 10 });
    expect(resolveByteRange({ start: 99, end: 99 }, 100)).toEqual({ start: 99, end: 99, length: 1 });
    expect(resolveByteRange({ start: 90 }, 100)).toEqual({ start: 90, end: 99, length: 10 });
    expect(resolveByteRange({ suffix: 10 }, 100)).toEqual({ start: 90, end: 99, length: 10 });
    expect(resolveByteRange({ suffix: 500 }, 100)).toEqual({ start: 0, end: 99, length: 100 });
    expect(resolveByteRange({ suffix: 0 }, 100)).toEqual({ start: 100, end: 99, length: 0 });
  });

  it("refuses bytes past the end, naming the file's size", () => {
    expect(() => resolveByteRange({ start: 100 }, 100)).toThrow(
      "the file is 100 bytes, so the start must be at most 99",
    );
    expect(() => resolveByteRange({ start: 0, end: 100 }, 100)).toThrow(
      "the file is 100 bytes, so the end must be at most 99",
    );
    expect(() => resolveByteRange({ start: 0 }, 0)).toThrow("the file is empty");
  });
});
