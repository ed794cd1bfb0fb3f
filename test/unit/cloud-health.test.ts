/** orchestrator/cloud-health.ts: which clouds' stores placement failover prefers. */
import { describe, expect, it } from "vitest";
import { CloudHealth } from "../../orchestrator/cloud-health.ts";

const CLOUDS = ["aws", "gcp", "azure", "oci"];
const MIB = 1024 * 1024;

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("CloudHealth", () => {
  it("keeps topology order while nothing is measured", () => {
    const h = new CloudHealth();
    expect(h.rank(CLOUDS)).toEqual(CLOUDS);
    expect(h.standings(["aws"])).toEqual([{ cloud: "aws", failures: 0, rank: "healthy" }]);
  });

  it("ranks a cloud more than 1.5x slower per MiB after the others, and one barely slower as healthy", () => {
    const h = new CloudHealth();
    h.observe("chunks.verified.aws", { size: 8 * MIB, durationMs: 80 });
    h.observe("chunks.placed.gcp", { size: 8 * MIB, durationMs: 400 });
    h.observe("chunks.verified.azure", { size: 8 * MIB, durationMs: 100 });
    expect(h.rank(CLOUDS)).toEqual(["aws", "azure", "oci", "gcp"]);
    expect(h.standings(["gcp", "azure"])).toEqual([
      { cloud: "gcp", msPerMiB: 50, failures: 0, rank: "slow" },
      { cloud: "azure", msPerMiB: 13, failures: 0, rank: "healthy" },
    ]);
  });

  it("follows a store that recovers, by a weighted mean of its recent times", () => {
    const h = new CloudHealth();
    h.observe("chunks.verified.aws", { size: MIB, durationMs: 10 });
    h.observe("chunks.verified.gcp", { size: MIB, durationMs: 100 });
    expect(h.rank(["gcp", "aws"])).toEqual(["aws", "gcp"]);
    for (let i = 0; i < 20; i++) h.observe("chunks.verified.gcp", { size: MIB, durationMs: 10 });
    expect(h.rank(["gcp", "aws"])).toEqual(["gcp", "aws"]);
  });

  it("does not take tiny chunks' fixed cost for slowness", () => {
    const h = new CloudHealth();
    h.observe("chunks.verified.aws", { size: 64 * 1024, durationMs: 5 });
    h.observe("chunks.verified.gcp", { size: 10, durationMs: 6 });
    expect(h.rank(["gcp", "aws"])).toEqual(["gcp", "aws"]);
  });

  it("ranks a cloud with a place or verify dead letter, or passed over, last for the failure window", () => {
    const c = clock();
    const h = new CloudHealth({ failureWindowMs: 60_000, now: c.now });
    h.observe("chunks.verified.oci", { size: MIB, durationMs: 500 });
    h.observe("deadletter.place.aws", { stage: "place" });
    h.failed("gcp");
    h.failed("gcp");
    expect(h.rank(CLOUDS)).toEqual(["azure", "oci", "aws", "gcp"]);
    expect(h.standings(["gcp"])[0]).toMatchObject({ failures: 2, rank: "failing" });
    c.advance(60_001);
    expect(h.rank(CLOUDS)).toEqual(CLOUDS);
  });

  it("ignores other events and values that are not sizes and times", () => {
    const h = new CloudHealth();
    for (const bad of [
      { size: -1, durationMs: 10 },
      { size: MIB, durationMs: Number.POSITIVE_INFINITY },
      { size: "1", durationMs: 10 },
      {},
    ])
      h.observe("chunks.verified.aws", bad);
    h.observe("chunks.processed.aws", { size: MIB, durationMs: 1 });
    h.observe("deadletter.ingest.aws", {});
    h.observe("deadletter.verify", {});
    expect(h.standings(["aws"])).toEqual([{ cloud: "aws", failures: 0, rank: "healthy" }]);
  });
});
