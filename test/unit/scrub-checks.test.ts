/** What a scrub takes as input: requests, event marks, the topology's settings, rates. */
import { describe, expect, it } from "vitest";
import { parseScrubRequest } from "../../orchestrator/scrubber.ts";
import { replicaKey } from "../../shared/chunk-keys.ts";
import { UntrustedEventError } from "../../shared/errors.ts";
import { checkScrubMark } from "../../shared/event-checks.ts";
import { newScrubPass } from "../../shared/scrub.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { parseRate } from "../../shared/units.ts";

const topology = compileTopology({ clouds: [{ name: "aws" }, { name: "gcp" }, { name: "azure" }] });
const body = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

describe("parseScrubRequest", () => {
  it("takes file ids, one replica and a rate", () => {
    expect(parseScrubRequest(body({}), topology)).toEqual({});
    expect(parseScrubRequest(body({ fileIds: ["abcdef12"], rateBytesPerSec: 1e6 }), topology)).toEqual({
      fileIds: ["abcdef12"],
      rateBytesPerSec: 1e6,
    });
    const replica = { fileId: "abcdef12", index: 3, cloud: "gcp" };
    expect(parseScrubRequest(body({ replica }), topology)).toEqual({ replica });
  });

  it("refuses what is not a request, naming the field", () => {
    expect(() => parseScrubRequest(new TextEncoder().encode("nope"), topology)).toThrow(/JSON object/);
    expect(() => parseScrubRequest(body({ fileIds: ["../etc"] }), topology)).toThrow(/fileIds/);
    expect(() =>
      parseScrubRequest(body({ replica: { fileId: "abcdef12", index: 0, cloud: "ibm" } }), topology),
    ).toThrow(/replica: .*aws, gcp, azure/);
    expect(() => parseScrubRequest(body({ rateBytesPerSec: 0 }), topology)).toThrow(/rateBytesPerSec/);
  });
});

describe("checkScrubMark", () => {
  const sha256 = "a".repeat(64);
  const ev = (scrub: unknown) => ({ fileId: "abcdef12", index: 0, offset: 0, size: 1, sha256, scrub });
  const loc = (cloud: string, key = replicaKey("abcdef12", 0, sha256)) => ({ cloud, store: "fs", bucket: "b", key });
  const clouds = ["aws", "gcp", "azure"];

  it("accepts a pass id and this chunk's replicas in other clouds", () => {
    expect(() =>
      checkScrubMark(ev({ pass: newScrubPass(), sources: [loc("gcp"), loc("azure")] }), "e", clouds, "aws"),
    ).not.toThrow();
    expect(() => checkScrubMark(ev(undefined), "e", clouds, "aws")).not.toThrow();
  });

  it("refuses a source in the scrubbed cloud itself, twice in one cloud, or under another key", () => {
    const bad = [
      { pass: "p1", sources: [loc("aws")] },
      { pass: "p1", sources: [loc("gcp"), loc("gcp")] },
      { pass: "p1", sources: [loc("gcp", "staging/abcdef12/0")] },
      { pass: "Not A Pass", sources: [] },
    ];
    for (const mark of bad) expect(() => checkScrubMark(ev(mark), "e", clouds, "aws")).toThrow(UntrustedEventError);
  });
});

describe("scrub settings", () => {
  it("defaults to a pass every 7 days at 20 MB/s, and can be turned off", () => {
    expect(topology).toMatchObject({ scrubEveryMs: 7 * 86_400_000, scrubRateBytesPerSec: 20e6 });
    expect(compileTopology({ clouds: [{ name: "aws" }], scrubEvery: "off" }).scrubEveryMs).toBe(0);
    expect(() => compileTopology({ clouds: [{ name: "aws" }], scrubEvery: "10ms" })).toThrow(/scrubEvery/);
  });

  it("reads rates with or without /s", () => {
    expect(parseRate("r", "4MiB/s")).toBe(4 * 1024 * 1024);
    expect(parseRate("r", "20MB")).toBe(20e6);
    expect(() => parseRate("r", "fast")).toThrow(/r: "fast" is not a rate such as 20MB\/s/);
  });
});
