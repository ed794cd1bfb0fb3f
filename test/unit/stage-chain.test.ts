/**
 * The stage chain (shared/stages.ts) and what is derived from it: the order, the consumes/emits
 * chain, and every name, subject and default that used to be written out by hand.
 */
import type { KV } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { analyse } from "../../observability/monitor.ts";
import { EVENT_PROJECTIONS } from "../../orchestrator/dispatch.ts";
import type { Projection } from "../../orchestrator/projection.ts";
import { type ChunkRecord, emptyStageTimes, type FileRecord } from "../../shared/manifest.ts";
import {
  INGEST_REQUESTS_KIND,
  isStage,
  perStage,
  STAGE_CHAIN,
  STAGES,
  stageOfEvent,
  stageRow,
  takesIngestRequests,
  takesOf,
} from "../../shared/stages.ts";
import { HUB_CONSUMERS, LEAF_CONSUMERS, stageSource } from "../../shared/stream-names.ts";
import { chunkSubject, deadLetterSubject } from "../../shared/subjects.ts";
import { composeDeployment, renderCompose } from "../../shared/topology/compose.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { hubStageConsumer, leafConsumer, workEventsStream } from "../../streams/definitions.ts";
import { workerArgs } from "../../supervisor/pipeline.ts";

describe("the stage chain", () => {
  it("runs ingest, process, place, verify in that order", () => {
    expect(STAGES).toEqual(["ingest", "process", "place", "verify"]);
  });

  it("starts with ingest requests, and each stage consumes what the one before it emits", () => {
    const [first, ...rest] = STAGE_CHAIN;
    expect(first?.consumes).toBe(INGEST_REQUESTS_KIND);
    for (const [i, row] of rest.entries()) expect(row.consumes, row.stage).toBe(STAGE_CHAIN[i]?.emits);
    expect(STAGE_CHAIN.map((r) => [r.consumes, r.emits])).toEqual([
      ["request", "ingested"],
      ["ingested", "processed"],
      ["processed", "placed"],
      ["placed", "verified"],
    ]);
  });

  it("has distinct stage names and event kinds, and only the first stage takes requests", () => {
    expect(new Set(STAGES).size).toBe(STAGE_CHAIN.length);
    expect(new Set(STAGE_CHAIN.map((r) => r.emits)).size).toBe(STAGE_CHAIN.length);
    expect(STAGES.filter(takesIngestRequests)).toEqual(["ingest"]);
    expect(takesIngestRequests("orchestrator")).toBe(false);
  });

  it("looks stages up by name and by the event they emit or take", () => {
    expect(STAGES.every(isStage)).toBe(true);
    expect(isStage("orchestrator")).toBe(false);
    expect(isStage("compress")).toBe(false);
    expect(stageRow("place")).toEqual({
      stage: "place",
      consumes: "processed",
      emits: "placed",
      from: "every",
      concurrency: 2,
    });
    expect(["ingested", "processed", "placed", "verified", "accepted"].map(stageOfEvent)).toEqual([
      "ingest",
      "process",
      "place",
      "verify",
      undefined,
    ]);
    expect([takesOf("process"), takesOf("place"), takesOf("verify")]).toEqual(["ingested", "processed", "placed"]);
  });

  it("makes per-stage records with their keys in pipeline order", () => {
    expect(Object.keys(perStage((s) => s.length))).toEqual(STAGES);
    expect(emptyStageTimes()).toEqual({ ingest: 0, process: 0, place: 0, verify: 0 });
    expect(Object.keys(emptyStageTimes())).toEqual(STAGES);
  });

  it("gives the topology its default concurrency per stage", () => {
    const t = compileTopology({ clouds: [{ name: "aws" }] });
    expect(t.concurrency).toEqual({ ingest: 1, process: 2, place: 2, verify: 4 });
    expect(Object.keys(t.concurrency)).toEqual(STAGES);
    expect(() => compileTopology({ clouds: [{ name: "aws" }], concurrency: { compress: 2 } })).toThrow(
      "concurrency.compress: unknown stage (expected one of ingest, process, place, verify)",
    );
  });
});

describe("the consumers and subjects derived from the chain", () => {
  const t = compileTopology({ clouds: [{ name: "aws" }, { name: "gcp" }] });
  const consumer = (c: { durable_name: string; filter_subject?: string }) => [c.durable_name, c.filter_subject];

  it("puts ingest's consumers on the hub's FILES stream, one per cloud, the first cloud's also taking requests that name none", () => {
    expect(HUB_CONSUMERS).toEqual(["ingest"]);
    const hub = (cloud: string) => {
      const c = hubStageConsumer(t, "ingest", cloud);
      return [c.durable_name, c.filter_subjects];
    };
    expect(hub("aws")).toEqual(["ingest-aws", ["files.ingest", "files.ingest.aws"]]);
    expect(hub("gcp")).toEqual(["ingest-gcp", ["files.ingest.gcp"]]);
    expect(stageSource("ingest", "gcp")).toEqual({ onHub: true, stream: "FILES", consumer: "ingest-gcp" });
  });

  it("gives every other stage a consumer on each cloud's stream for the event the stage before it emits", () => {
    expect(LEAF_CONSUMERS).toEqual([
      { stage: "process", takes: "ingested", from: "own" },
      { stage: "place", takes: "processed", from: "every" },
      { stage: "verify", takes: "placed", from: "own" },
    ]);
    expect(LEAF_CONSUMERS.map((c) => consumer(leafConsumer(t, "gcp", c)))).toEqual([
      ["process", "chunks.ingested.gcp"],
      ["place", "chunks.processed.*"],
      ["verify", "chunks.placed.gcp"],
    ]);
    expect(LEAF_CONSUMERS.map((c) => stageSource(c.stage, "aws"))).toEqual([
      { onHub: false, stream: "CLOUD_AWS", consumer: "process" },
      { onHub: false, stream: "WORK_AWS", consumer: "place" },
      { onHub: false, stream: "CLOUD_AWS", consumer: "verify" },
    ]);
  });

  it("feeds each cloud's WORK stream its own processed chunks directly and the other clouds' from the hub", () => {
    const work = workEventsStream(t, "gcp");
    expect(work.name).toBe("WORK_GCP");
    expect(work.sources).toEqual([
      { name: "CLOUD_GCP", filter_subject: "chunks.processed.gcp" },
      {
        name: "EVENTS",
        // Delivered under a prefix naming gcp: only gcp's leaf link may carry it (nats-permissions.ts).
        external: { api: "$JS.hub.API", deliver: "ferry.sourced.work.gcp" },
        subject_transforms: [{ src: "chunks.processed.aws", dest: "chunks.processed.aws" }],
      },
    ]);
  });

  it("names a dead-letter subject per stage and cloud", () => {
    expect(STAGES.map((s) => deadLetterSubject(s, "aws"))).toEqual([
      "deadletter.ingest.aws",
      "deadletter.process.aws",
      "deadletter.place.aws",
      "deadletter.verify.aws",
    ]);
  });
});

/** Just enough of a NATS KV bucket for the projection: get, create and compare-and-set update. */
function memoryKv(): KV & { json(key: string): unknown } {
  const data = new Map<string, { value: string; revision: number }>();
  let revision = 0;
  const kv = {
    json: (key: string) => JSON.parse(data.get(key)?.value ?? "null"),
    get: async (key: string) => {
      const e = data.get(key);
      return e && { operation: "PUT", length: e.value.length, revision: e.revision, json: () => JSON.parse(e.value) };
    },
    create: async (key: string, value: string) => {
      if (data.has(key)) throw new Error(`${key} exists`);
      data.set(key, { value, revision: ++revision });
    },
    update: async (key: string, value: string, expected: number) => {
      if (data.get(key)?.revision !== expected) throw new Error(`${key} changed`);
      data.set(key, { value, revision: ++revision });
    },
  };
  return kv as unknown as KV & { json(key: string): unknown };
}

describe("the orchestrator's projections derived from the chain", () => {
  it("projects every stage's chunk event and dead letter, and the file events", () => {
    expect(Object.keys(EVENT_PROJECTIONS).sort()).toEqual(
      [
        "files.accepted",
        "files.ingested",
        // An operator's replay of a dead letter (ferry dead-letters replay) puts a failed file back in flight.
        "files.replayed",
        ...["ingested", "processed", "placed", "verified"].map((k) => `chunks.${k}`),
        ...STAGES.map((s) => `deadletter.${s}`),
      ].sort(),
    );
  });

  it("times a stage from its events and sums the stage times of a chunk once it is verified", async () => {
    const kv = memoryKv();
    const p: Projection = { kv, defaultReplicas: 1 };
    const chunk = { fileId: "f1", index: 0, offset: 0, size: 10, sha256: "ab", cloud: "aws", worker: "w" };
    const at = "2026-11-02T03:00:00.000Z";
    const replica = { cloud: "aws", store: "fs", bucket: "b", key: "k" };
    const project = (type: string, e: object) => EVENT_PROJECTIONS[type]?.(p, { ...chunk, at, ...e } as never);
    await project("files.accepted", { name: "f", size: 10, chunkSize: 10, replicas: 1 });
    await project("chunks.ingested", { durationMs: 5, staging: replica, transforms: [], replicas: 1 });
    // Two deliveries of process's event (a retry): the longer one counts.
    await project("chunks.processed", { durationMs: 7, staging: replica, replicas: 1, repairs: 0 });
    await project("chunks.processed", { durationMs: 3, staging: replica, replicas: 1, repairs: 0 });
    await project("chunks.placed", { durationMs: 11, replica, staging: replica, replicas: 1, repairs: 0 });
    await project("chunks.verified", { durationMs: 13, replica });
    const times = { ingest: 5, process: 7, place: 11, verify: 13 };
    expect((kv.json("chunk.f1.0") as ChunkRecord).stageMs).toEqual(times);
    expect((kv.json("file.f1") as FileRecord).stageMs).toEqual(times);
  });
});

describe("the processes and the monitor derived from the chain", () => {
  const t = compileTopology({ clouds: [{ name: "aws" }, { name: "gcp" }] });
  const perCloud = ["aws", "gcp"].flatMap((c) => STAGES.map((s) => `${s}-${c}`));

  it("starts the orchestrator and one worker per stage in every cloud, locally and in compose", () => {
    const args = workerArgs(composeDeployment(t));
    const gateways = (c: string) => [...STAGES.map((s) => `${s}-${c}`), `gateway-${c}`];
    expect([...args.keys()]).toEqual(["orchestrator", ...gateways("aws"), ...gateways("gcp")]);
    expect(args.get("gateway-gcp")?.slice(1)).toEqual(["gcp", "/deploy"]);
    expect(args.get("place-gcp")?.slice(1)).toEqual(["place", "gcp", "/deploy"]);
    expect(args.get("place-gcp")?.[0]).toMatch(/stages\/main\.ts$/);
    const services = renderCompose(t).model.services;
    for (const name of perCloud) expect(services[name]?.command?.slice(1, 3), name).toEqual(name.split("-"));
  });

  it("credits each chunk event to the stage that emits it, and a dead letter or a repair as a failure", () => {
    const body = { fileId: "f1", index: 0, size: 100, at: "2026-11-02T03:00:00.000Z", durationMs: 10 };
    const report = analyse([
      ...STAGE_CHAIN.map((r) => ({ subject: chunkSubject(r.emits, "aws"), body })),
      { subject: chunkSubject(takesOf("place"), "aws"), body: { ...body, repairs: 1 } },
      ...STAGES.map((s) => ({ subject: deadLetterSubject(s, "gcp"), body: {} })),
    ]);
    expect(report.stages.map((s) => [s.stage, s.chunks, s.succeeded, s.failed])).toEqual([
      ["ingest", 1, 1, 1],
      ["process", 1, 1, 1],
      ["place", 1, 1, 1],
      ["verify", 1, 1, 2],
    ]);
  });
});
