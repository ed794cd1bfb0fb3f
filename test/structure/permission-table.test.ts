import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../shared/repo-root.ts";
import { loadTopology } from "../../shared/topology/config.ts";
import { withPermissionTable } from "../../shared/topology/permission-table.ts";

describe("the README's NATS permission table", () => {
  it("is the one the permission table and topology.json generate (else run ./ferry compose)", () => {
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const topology = loadTopology(join(REPO_ROOT, "topology.json"));
    expect(readme, "README.md's permission table is stale: run ./ferry compose and commit").toBe(
      withPermissionTable(readme, topology),
    );
  });
});
