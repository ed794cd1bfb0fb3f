import { describe, expect, it } from "vitest";
import { hasBit, setBit } from "../../orchestrator/bitmap.ts";

describe("completion bitmap", () => {
  it("grows as bits are set and setting a bit twice changes nothing", () => {
    let b = "";
    for (const i of [0, 9, 1000]) b = setBit(b, i);
    expect([0, 1, 9, 999, 1000].map((i) => hasBit(b, i))).toEqual([true, false, true, false, true]);
    expect(setBit(b, 9)).toBe(b);
  });
});
