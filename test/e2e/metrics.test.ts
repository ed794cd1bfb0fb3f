/**
 * The aggregated Prometheus endpoint on a real pipeline: after files of known sizes went through,
 * /metrics parses as Prometheus text format and its counters and gauges say what happened.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitForFiles } from "../../client/ingest.ts";
import { type Dashboard, startDashboard } from "../../dashboard/server.ts";
import { eventually, writeRandomFile } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";

const CLOUDS = ["aws", "gcp", "azure"];
const STAGES = ["ingest", "process", "place", "verify"];
const CHUNK = 64 * 1024; // the test pipeline's chunk size
const FILES = [
  { fileId: "metrics-a", size: 3 * CHUNK + 5, chunks: 4 },
  { fileId: "metrics-b", size: 100_000, chunks: 2 },
];
const TOTAL_BYTES = FILES.reduce((t, f) => t + f.size, 0);
const TOTAL_CHUNKS = FILES.reduce((t, f) => t + f.chunks, 0);

let t: TestPipeline;
let dash: Dashboard;

beforeAll(async () => {
  t = await startTestPipeline();
  dash = await startDashboard({ deployment: t.pipeline.deployment, port: 0 });
});
afterAll(async () => {
  await dash?.close();
  await t?.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text exposition format (0.0.4): every sample belongs to a
 * family declared by # TYPE, names and labels are well-formed, and each histogram has
 * non-decreasing buckets ending in +Inf equal to its _count. Throws on the first violation.
 */
function parseExposition(text: string): Sample[] {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  text.split("\n").forEach((line, i) => {
    const where = `line ${i + 1} "${line}"`;
    if (line === "") return;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      if (!NAME.test(meta[2]!)) throw new Error(`bad metric name at ${where}`);
      if (meta[1] === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(meta[3]!))
          throw new Error(`unknown type at ${where}`);
        if (types.has(meta[2]!)) throw new Error(`second TYPE for ${meta[2]} at ${where}`);
        types.set(meta[2]!, meta[3]!);
      }
      return;
    }
    if (line.startsWith("#")) return;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample at ${where}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? "";
    const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
    let pos = 0;
    while (pos < body.length) {
      LABEL.lastIndex = pos;
      const l = LABEL.exec(body);
      if (!l) throw new Error(`bad label set at ${where}`);
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_x, c: string) => (c === "n" ? "\n" : c));
      pos = LABEL.lastIndex;
    }
    if (!/^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|NaN|[+-]Inf)$/.test(m[3]!))
      throw new Error(`bad value at ${where}`);
    const name = m[1]!;
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    const type = types.get(family);
    if (!type) throw new Error(`sample without a TYPE at ${where}`);
    if (family !== name && type !== "histogram" && type !== "summary")
      throw new Error(`suffix on a ${type} at ${where}`);
    samples.push({ name, labels, value: m[3] === "+Inf" ? Infinity : Number(m[3]) });
  });
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === `${family}_bucket`)) {
      const { le: _le, ...rest } = s.labels;
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const bounds = buckets.map((b) => (b.labels.le === "+Inf" ? Infinity : Number(b.labels.le)));
      if (bounds.at(-1) !== Infinity) throw new Error(`${family}${key} has no +Inf bucket`);
      for (let i = 1; i < buckets.length; i++) {
        if (!(bounds[i]! > bounds[i - 1]!) || buckets[i]!.value < buckets[i - 1]!.value)
          throw new Error(`${family}${key} buckets are not cumulative`);
      }
      const count = samples.find((x) => x.name === `${family}_count` && JSON.stringify(x.labels) === key);
      if (count?.value !== buckets.at(-1)!.value)
        throw new Error(`${family}${key}: +Inf bucket ${buckets.at(-1)!.value} != _count ${count?.value}`);
    }
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `match`, and how many there were. */
function total(samples: Sample[], name: string, match: Record<string, string> = {}): { sum: number; series: number } {
  const hits = samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  return { sum: hits.reduce((a, s) => a + s.value, 0), series: hits.length };
}

async function scrape(): Promise<{ contentType: string | null; samples: Sample[] }> {
  const res = await fetch(new URL("/metrics", dash.url));
  expect(res.status).toBe(200);
  return { contentType: res.headers.get("content-type"), samples: parseExposition(await res.text()) };
}

describe("/metrics after files went through", () => {
  it("counts every message, byte and outcome, and reports no lag, linked leaves and no dead letters", async () => {
    for (const f of FILES) {
      const path = join(t.dir, `${f.fileId}.bin`);
      writeRandomFile(path, f.size);
      t.nc.publish("files.ingest", JSON.stringify({ fileId: f.fileId, path }));
    }
    const done = await waitForFiles(
      t.kv,
      FILES.map((f) => f.fileId),
      () => undefined,
      60_000,
    );
    for (const f of FILES)
      expect(done.get(f.fileId)).toMatchObject({ state: "complete", size: f.size, chunkCount: f.chunks });

    // The orchestrator acknowledges the last events just after the file completes: wait for every consumer to drain.
    const { contentType, samples } = await eventually(
      async () => {
        const s = await scrape();
        const lag =
          total(s.samples, "ferry_consumer_pending_messages").sum +
          total(s.samples, "ferry_consumer_ack_pending_messages").sum;
        return lag === 0 ? s : undefined;
      },
      20_000,
      "every consumer to drain",
    );
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8");

    // Messages per stage: a file for ingest, a chunk for process, a replica (3 per chunk) for place and
    // verify, each replica's placing and verifying done by its own cloud's workers.
    const ok = (stage: string, cloud?: string) =>
      total(samples, "ferry_stage_messages_total", { stage, outcome: "ok", ...(cloud ? { cloud } : {}) }).sum;
    expect(STAGES.map((s) => [s, ok(s)])).toEqual([
      ["ingest", FILES.length],
      ["process", TOTAL_CHUNKS],
      ["place", TOTAL_CHUNKS * 3],
      ["verify", TOTAL_CHUNKS * 3],
    ]);
    for (const cloud of CLOUDS)
      expect([cloud, ok("place", cloud), ok("verify", cloud)]).toEqual([cloud, TOTAL_CHUNKS, TOTAL_CHUNKS]);
    // Requests naming no cloud go to the first (aws): its chunks cross the link to each other cloud once.
    expect(
      samples
        .filter((x) => x.name === "ferry_link_bytes_total")
        .map((x) => [x.labels.from, x.labels.to, x.value])
        .sort(),
    ).toEqual([
      ["aws", "azure", TOTAL_BYTES],
      ["aws", "gcp", TOTAL_BYTES],
    ]);
    expect(total(samples, "ferry_stage_messages_total", { outcome: "retry" }).sum).toBe(0);
    expect(total(samples, "ferry_stage_messages_total", { outcome: "dead_letter" }).sum).toBe(0);
    expect(total(samples, "ferry_stage_redeliveries_total").sum).toBe(0);
    // Every stage worker of every cloud exposes its series (ok, skipped, retry, dead_letter), even one that handled nothing.
    for (const stage of STAGES)
      for (const cloud of CLOUDS) expect(total(samples, "ferry_stage_messages_total", { stage, cloud }).series).toBe(4);
    // With R equal to the number of clouds, every place worker takes every chunk: none skipped.
    expect(total(samples, "ferry_stage_messages_total", { outcome: "skipped" }).sum).toBe(0);

    const bytes = (stage: string) => total(samples, "ferry_stage_bytes_total", { stage }).sum;
    expect(STAGES.map((s) => [s, bytes(s)])).toEqual([
      ["ingest", TOTAL_BYTES],
      ["process", TOTAL_BYTES],
      ["place", TOTAL_BYTES * 3],
      ["verify", TOTAL_BYTES * 3],
    ]);

    // One handling-time observation per message, every one of them timed.
    for (const stage of STAGES) {
      expect(total(samples, "ferry_stage_handling_seconds_count", { stage, outcome: "ok" }).sum).toBe(ok(stage));
      expect(total(samples, "ferry_stage_handling_seconds_bucket", { stage, outcome: "ok", le: "+Inf" }).sum).toBe(
        ok(stage),
      );
      expect(total(samples, "ferry_stage_handling_seconds_sum", { stage, outcome: "ok" }).sum).toBeGreaterThan(0);
    }
    // The orchestrator projected at least one event per chunk event (ingested, processed, 3 placed, 3 verified).
    expect(ok("orchestrator")).toBeGreaterThanOrEqual(TOTAL_CHUNKS * 8);

    // Lag: every consumer measured (the orchestrator's and one ingest consumer per cloud on the hub, three per leaf), all at 0.
    expect(total(samples, "ferry_consumer_pending_messages").series).toBe(1 + 4 * CLOUDS.length);
    expect(total(samples, "ferry_consumer_ack_pending_messages").series).toBe(1 + 4 * CLOUDS.length);
    for (const cloud of CLOUDS)
      expect(total(samples, "ferry_consumer_pending_messages", { stage: "ingest", cloud }).series).toBe(1);

    for (const cloud of CLOUDS) expect(total(samples, "ferry_leaf_link_up", { cloud })).toEqual({ sum: 1, series: 1 });
    expect(total(samples, "ferry_dead_letters_stored")).toEqual({ sum: 0, series: STAGES.length * CLOUDS.length });
    // The orchestrator, every stage's worker and each cloud's gateway.
    expect(total(samples, "ferry_workers_answering")).toEqual({
      sum: 1 + (STAGES.length + 1) * CLOUDS.length,
      series: 1 + (STAGES.length + 1) * CLOUDS.length,
    });
    for (const cloud of CLOUDS)
      expect(total(samples, "ferry_workers_answering", { stage: "gateway", cloud })).toEqual({ sum: 1, series: 1 });
  });

  it("counts a dead letter on its worker and as stored on the hub", async () => {
    t.nc.publish("files.ingest", "this is not json");
    const { samples } = await eventually(
      async () => {
        const s = await scrape();
        // The worker stores the dead letter before it counts the outcome: wait for both.
        const stored = total(s.samples, "ferry_dead_letters_stored").sum;
        const counted = total(s.samples, "ferry_stage_messages_total", { outcome: "dead_letter" }).sum;
        return stored >= 1 && counted >= 1 ? s : undefined;
      },
      30_000,
      "the dead letter to be stored on the hub and counted by its worker",
    );
    expect(total(samples, "ferry_dead_letters_stored", { stage: "ingest" }).sum).toBe(1);
    expect(total(samples, "ferry_stage_messages_total", { stage: "ingest", outcome: "dead_letter" }).sum).toBe(1);
    expect(total(samples, "ferry_stage_handling_seconds_count", { stage: "ingest", outcome: "dead_letter" }).sum).toBe(
      1,
    );
  });
});

describe("the exposition reader itself", () => {
  it("rejects what Prometheus would reject", () => {
    expect(() => parseExposition("ferry_x 1\n")).toThrow(/without a TYPE/);
    expect(() => parseExposition('# TYPE ferry_x gauge\nferry_x{a="1""} 1\n')).toThrow(/bad label set/);
    expect(() => parseExposition("# TYPE ferry_x gauge\nferry_x one\n")).toThrow(/bad value/);
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n')).toThrow(
      /not cumulative/,
    );
    expect(
      parseExposition('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\n'),
    ).toHaveLength(4);
  });
});
