import { describe, expect, it } from "vitest";
import { printable } from "../../cli/terminal-text.ts";

describe("printable", () => {
  it("writes controls, bidi overrides, separators and lone surrogates as escapes", () => {
    expect(printable("a\x1b[2Jb\r\n\t\0\x7f\x9b")).toBe("a\\x1b[2Jb\\x0d\\x0a\\x09\\x00\\x7f\\x9b");
    expect(printable("\u202egpj.exe \u2066x\u2069 \u200f \u061c \u2028")).toBe(
      "\\u202egpj.exe \\u2066x\\u2069 \\u200f \\u061c \\u2028",
    );
    expect(printable("lone \ud800 and \udc00")).toBe("lone \\ud800 and \\udc00");
  });

  it("leaves every other character as it is, and doubles a backslash so escapes stay unambiguous", () => {
    expect(printable("train (v2) ëñ 数据 😀 ../*>.bin")).toBe("train (v2) ëñ 数据 😀 ../*>.bin");
    expect(printable("C:\\x1b")).toBe("C:\\\\x1b");
  });

  it("leaves no character a terminal acts on, for every code unit", () => {
    const all = String.fromCharCode(...Array.from({ length: 0x10000 }, (_, i) => i));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting none is left is the point
    expect(printable(all)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f]/);
  });
});
