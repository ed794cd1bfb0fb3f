import { describe, expect, it } from "vitest";
import { hasBit, setBit } from "../../orchestrator/bitmap.ts";
import { chooseTargets } from "../../stages/place/targets.ts";

describe("completion bitmap", () => {
  it("grows as bits are set and setting a bit twice changes nothing", () => {
    let b = "";
    for (const i of [0, 9, 1000]) b = setBit(b, i);
    expect([0, 1, 9, 999, 1000].map((i) => hasBit(b, i))).toEqual([true, false, true, false, true]);
    expect(setBit(b, 9)).toBe(b);
  });
});

describe("chooseTargets", () => {
  it("puts the chunk's own cloud first and never picks a cloud twice", () => {
    expect(chooseTargets(["aws", "gcp", "azure"], "gcp", 3)).toEqual(["gcp", "aws", "azure"]);
    expect(chooseTargets(["aws", "gcp", "azure"], "azure", 2)).toEqual(["azure", "aws"]);
    expect(chooseTargets(["aws", "gcp"], "aws", 3)).toEqual(["aws", "gcp"]);
  });
});
