import { dirname, join, normalize } from "node:path";
import { describe, expect, it } from "vitest";
import { readSource, type SOURCE_FOLDERS, sourceFiles } from "./source-files.ts";

/**
 * The layers, from the floor up (the README's "Layout" section draws them). A folder imports only
 * from folders of a lower rank, or from itself: folders of the same rank never import each other.
 */
const RANK: Record<(typeof SOURCE_FOLDERS)[number], number> = {
  shared: 0, // config and topology parsing, ids, events, units, errors, the stores
  observability: 1, // logging, tracing, metrics, the stage monitor
  streams: 1, // streams, consumers and buckets as code
  runtime: 2, // the worker runtime: consume loop, worker context, process set-up
  stages: 3,
  orchestrator: 3,
  dashboard: 3,
  client: 3, // what a user's process does: ingest requests, reading files back, dead letters
  gateway: 3, // each cloud's issuer of short-lived object URLs, and the HTTP face of an fs store
  supervisor: 4, // starts and watches servers and workers
  chaos: 5,
  bench: 5,
  cli: 6,
};

const IMPORT =
  /(?:^|\n)\s*(?:import|export)[^"';]*?from\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

/** `file -> imported file` for every relative import of every source file. */
function imports(): Array<{ from: string; to: string }> {
  const out: Array<{ from: string; to: string }> = [];
  for (const file of sourceFiles()) {
    for (const m of readSource(file).matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (spec) out.push({ from: file, to: normalize(join(dirname(file), spec)) });
    }
  }
  return out;
}

const folderOf = (path: string): string => path.split("/")[0] ?? path;

/** The imports that break the layers, as `from -> to (why)`. */
function layerViolations(edges: Array<{ from: string; to: string }>): string[] {
  const problems: string[] = [];
  for (const { from, to } of edges) {
    const a = folderOf(from);
    const b = folderOf(to);
    if (a === b) continue;
    const ra = RANK[a as keyof typeof RANK];
    const rb = RANK[b as keyof typeof RANK];
    if (rb === undefined) problems.push(`${from} -> ${to} (outside the source folders)`);
    else if (ra === undefined) continue;
    else if (rb > ra) problems.push(`${from} -> ${to} (goes up: ${a} is layer ${ra}, ${b} is layer ${rb})`);
    else if (rb === ra) problems.push(`${from} -> ${to} (sideways: ${a} and ${b} are both layer ${ra})`);
  }
  return problems;
}

describe("layers", () => {
  it("every import points down, or stays in its folder", () => {
    const violations = layerViolations(imports());
    expect(violations, `imports that break the layers:\n${violations.join("\n")}`).toEqual([]);
  });

  it("sees imports at all (a parser that found none would pass anything)", () => {
    const edges = imports();
    expect(edges.length).toBeGreaterThan(200);
    expect(edges).toContainEqual({ from: "stages/main.ts", to: "runtime/consume-loop.ts" });
  });

  it("reports an upward and a sideways import", () => {
    expect(
      layerViolations([
        { from: "shared/manifest.ts", to: "streams/definitions.ts" },
        { from: "stages/main.ts", to: "orchestrator/projection.ts" },
        { from: "cli/main.ts", to: "shared/errors.ts" },
      ]),
    ).toEqual([
      "shared/manifest.ts -> streams/definitions.ts (goes up: shared is layer 0, streams is layer 1)",
      "stages/main.ts -> orchestrator/projection.ts (sideways: stages and orchestrator are both layer 3)",
    ]);
  });
});
