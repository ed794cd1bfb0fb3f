/**
 * The stage monitor's arithmetic on hand-made event histories: throughput, success rate, share of
 * pipeline time, and where the bottleneck thresholds (25 / 35 / 50 %) fall.
 */
import { describe, expect, it } from "vitest";
import { analyse, type HistoryEvent, recentRates } from "../../observability/monitor.ts";

const T0 = Date.parse("2026-11-02T03:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** A successful chunk event that ended `endMs` after T0 and took `durationMs`. */
function chunk(
  kind: "ingested" | "processed" | "placed" | "verified",
  index: number,
  size: number,
  endMs: number,
  durationMs: number,
  extra: Partial<HistoryEvent["body"]> = {},
): HistoryEvent {
  return { subject: `chunks.${kind}.aws`, body: { fileId: "f1", index, size, at: at(endMs), durationMs, ...extra } };
}

describe("analyse", () => {
  // Two chunks (1000 and 500 bytes) through all four stages; place and verify on two replicas each.
  const history: HistoryEvent[] = [
    chunk("ingested", 0, 1000, 100, 100),
    chunk("ingested", 1, 500, 300, 200),
    chunk("processed", 0, 1000, 400, 50, { repairs: 0 }),
    chunk("processed", 1, 500, 500, 50, { repairs: 0 }),
    chunk("placed", 0, 1000, 800, 300),
    chunk("placed", 0, 1000, 900, 400),
    chunk("placed", 1, 500, 1000, 400),
    chunk("placed", 1, 500, 1100, 500),
    chunk("verified", 0, 1000, 1200, 100),
    chunk("verified", 0, 1000, 1250, 50),
    chunk("verified", 1, 500, 1300, 100),
    chunk("verified", 1, 500, 1350, 100),
    // verify found a bad replica and sent chunk 1 back to placement: a verify failure
    chunk("processed", 1, 500, 1320, 20, { repairs: 1 }),
    // a process dead letter
    { subject: "deadletter.process.aws", body: { at: at(450), durationMs: 0, fileId: "f1", index: 7 } },
    // not stage work: ignored
    { subject: "files.ingested.aws", body: { at: at(320), durationMs: 320, fileId: "f1", size: 1500 } },
  ];

  it("works out chunks, bytes, busy time, span, throughput and success rate per stage", () => {
    const r = analyse(history);
    expect(r.events).toBe(14);
    expect(r.from).toBe(at(0));
    expect(r.to).toBe(at(1350));
    const [ingest, process, place, verify] = r.stages;
    // ingest: 100 + 200 ms of work from 0 to 300 ms: 1500 B in 0.3 s
    expect(ingest).toEqual({
      stage: "ingest",
      chunks: 2,
      bytes: 1500,
      busyMs: 300,
      spanMs: 300,
      bytesPerSec: 5000,
      chunksPerSec: 2 / 0.3,
      succeeded: 2,
      failed: 0,
      successRate: 1,
      share: 300 / 1500,
    });
    // process: one dead letter against two successes
    expect(process).toEqual({
      stage: "process",
      chunks: 2,
      bytes: 1500,
      busyMs: 100,
      spanMs: 150,
      bytesPerSec: 10_000,
      chunksPerSec: 2 / 0.15,
      succeeded: 2,
      failed: 1,
      successRate: 2 / 3,
      share: 100 / 1500,
    });
    // place: the slowest replica of each chunk counts (400 + 500), replicas count as successes
    expect(place).toEqual({
      stage: "place",
      chunks: 2,
      bytes: 1500,
      busyMs: 900,
      spanMs: 600,
      bytesPerSec: 2500,
      chunksPerSec: 2 / 0.6,
      succeeded: 4,
      failed: 0,
      successRate: 1,
      share: 900 / 1500,
    });
    // verify: 100 + 100 ms, work from 1100 to 1350 ms, one bad replica among five checks
    expect(verify).toEqual({
      stage: "verify",
      chunks: 2,
      bytes: 1500,
      busyMs: 200,
      spanMs: 250,
      bytesPerSec: 6000,
      chunksPerSec: 8,
      succeeded: 4,
      failed: 1,
      successRate: 0.8,
      share: 200 / 1500,
    });
    expect(r.bottleneck).toEqual({ stage: "place", share: 0.6, severity: "severe" });
  });

  it("counts a chunk delivered twice once, with its longer time", () => {
    const r = analyse([chunk("processed", 0, 1000, 100, 40), chunk("processed", 0, 1000, 900, 60)]);
    expect(r.stages[1]).toMatchObject({ chunks: 1, bytes: 1000, busyMs: 60, succeeded: 2 });
  });

  it("reports nothing measured for an empty history", () => {
    const r = analyse([]);
    expect(r).toMatchObject({ from: null, to: null, events: 0 });
    expect(r.bottleneck).toBeUndefined();
    expect(r.stages.map((s) => [s.stage, s.chunks, s.bytesPerSec, s.successRate, s.share])).toEqual([
      ["ingest", 0, 0, null, 0],
      ["process", 0, 0, null, 0],
      ["place", 0, 0, null, 0],
      ["verify", 0, 0, null, 0],
    ]);
  });
});

describe("bottleneck severity", () => {
  /** One chunk whose four stages took the given milliseconds (they sum to 100, so each is its share in %). */
  const shares = (ingest: number, process: number, place: number, verify: number) =>
    analyse([
      chunk("ingested", 0, 10, 1000, ingest),
      chunk("processed", 0, 10, 2000, process),
      chunk("placed", 0, 10, 3000, place),
      chunk("verified", 0, 10, 4000, verify),
    ]).bottleneck;

  it("flags nothing while every stage has at most 25 %", () => {
    expect(shares(25, 25, 25, 25)).toBeUndefined();
  });
  it("is minor above 25 % up to 35 %", () => {
    expect(shares(26, 24, 25, 25)).toEqual({ stage: "ingest", share: 0.26, severity: "minor" });
    expect(shares(20, 35, 25, 20)).toEqual({ stage: "process", share: 0.35, severity: "minor" });
  });
  it("is moderate above 35 % up to 50 %", () => {
    expect(shares(20, 20, 36, 24)).toEqual({ stage: "place", share: 0.36, severity: "moderate" });
    expect(shares(10, 20, 20, 50)).toEqual({ stage: "verify", share: 0.5, severity: "moderate" });
  });
  it("is severe above 50 %", () => {
    expect(shares(10, 19, 51, 20)).toEqual({ stage: "place", share: 0.51, severity: "severe" });
  });
});

describe("recentRates", () => {
  it("counts distinct chunks that ended inside the window", () => {
    const events = [
      chunk("placed", 0, 4000, 5000, 10), // before the window
      chunk("placed", 1, 1000, 8000, 10),
      chunk("placed", 1, 1000, 8100, 10), // second replica of chunk 1
      chunk("placed", 2, 3000, 10_000, 10),
      chunk("placed", 3, 9000, 10_001, 10), // after "now"
    ];
    const rates = recentRates(events, T0 + 10_000, 4000);
    expect(rates.place).toEqual({ bytesPerSec: 1000, chunksPerSec: 0.5 });
    expect(rates.ingest).toEqual({ bytesPerSec: 0, chunksPerSec: 0 });
  });
});
