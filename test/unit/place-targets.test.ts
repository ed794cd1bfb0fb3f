/** stages/place/targets.ts: which clouds hold a chunk's replicas. */
import { describe, expect, it } from "vitest";
import { chooseTargets } from "../../stages/place/targets.ts";

describe("chooseTargets", () => {
  it("puts the chunk's own cloud first and never picks a cloud twice", () => {
    expect(chooseTargets(["aws", "gcp", "azure"], "gcp", 3)).toEqual(["gcp", "aws", "azure"]);
    expect(chooseTargets(["aws", "gcp", "azure"], "azure", 2)).toEqual(["azure", "aws"]);
    expect(chooseTargets(["aws", "gcp"], "aws", 3)).toEqual(["aws", "gcp"]);
  });

  it("keeps topology order when the home cloud is not in the list, and picks nothing for 0 replicas", () => {
    expect(chooseTargets(["aws", "gcp", "azure"], "onprem", 2)).toEqual(["aws", "gcp"]);
    expect(chooseTargets(["aws", "gcp", "azure"], "gcp", 0)).toEqual([]);
  });
});
