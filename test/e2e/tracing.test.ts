/**
 * Traces as a user reads them in Jaeger: a real Jaeger v2 started by the test, a real pipeline
 * (hub, three leaves, every worker) exporting to it over OTLP/HTTP, files ingested through the
 * same traced publish the CLI uses. Also: the worker logs of a failed chunk lead to its trace.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { submitIngest, waitForFiles } from "../../client/ingest.ts";
import { checkIngestFile } from "../../client/preflight.ts";
import { publishTraced } from "../../observability/message-spans.ts";
import { initTracing, type Tracing } from "../../observability/tracing.ts";
import { replicaKey } from "../../shared/chunk-keys.ts";
import { encodeEvent } from "../../shared/events.ts";
import { type FileRecord, readFileRecord } from "../../shared/manifest.ts";
import { type LocalJaeger, startLocalJaeger } from "../../supervisor/jaeger-server.ts";
import { freePorts } from "../../supervisor/ports.ts";
import { eventually, sha256 } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";

const CHUNK = 64 * 1024;
const CLOUDS = ["aws", "gcp", "azure"];
const STAGE_SERVICES = ["ferry-ingest", "ferry-process", "ferry-place", "ferry-verify"];

let dir: string;
let jaeger: LocalJaeger | undefined;
let t: TestPipeline | undefined;
let tracing: Tracing | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-tracing-"));
  const [otlpPort, queryPort] = await freePorts(2);
  jaeger = await startLocalJaeger({
    otlpPort: otlpPort!,
    queryPort: queryPort!,
    dataDir: join(dir, "jaeger"),
    logFile: join(dir, "jaeger.log"),
  });
  // Spans leave a process after the batch processor's delay: keep it short so the test does not wait 5 s a round.
  t = await startTestPipeline({
    workerEnv: { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl, OTEL_BSP_SCHEDULE_DELAY: "100" },
  });
  // This process publishes requests as `ferry ingest` does.
  process.env.OTEL_BSP_SCHEDULE_DELAY = "100";
  tracing = initTracing({ service: "ferry-cli", otlpUrl: jaeger.otlpUrl });
});

afterAll(async () => {
  await tracing?.shutdown();
  await t?.stop();
  await jaeger?.process.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** One span as Jaeger's query API returns it, with its process resolved. */
interface JSpan {
  spanId: string;
  parentId: string | undefined;
  name: string;
  service: string;
  /** Resource attributes of the process that made it. */
  resource: Record<string, unknown>;
  tags: Record<string, unknown>;
  /** Span events (an exception is one), as key/value fields. */
  events: Array<Record<string, unknown>>;
}

interface JaegerTrace {
  traceID: string;
  spans: Array<{
    spanID: string;
    operationName: string;
    processID: string;
    references: Array<{ refType: string; spanID: string; traceID: string }>;
    tags: Array<{ key: string; value: unknown }>;
    logs: Array<{ fields: Array<{ key: string; value: unknown }> }>;
  }>;
  processes: Record<string, { serviceName: string; tags: Array<{ key: string; value: unknown }> }>;
}

const kv = (list: Array<{ key: string; value: unknown }>): Record<string, unknown> =>
  Object.fromEntries(list.map((x) => [x.key, x.value]));

/** GET /api/traces/{traceId}: every span of the trace, or [] while Jaeger has none. */
async function fetchTrace(traceId: string): Promise<JSpan[]> {
  const res = await fetch(`${jaeger!.queryUrl}/api/traces/${traceId}`);
  if (res.status === 404) return [];
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: JaegerTrace[] };
  const trace = body.data[0];
  if (!trace) return [];
  expect(trace.traceID).toBe(traceId);
  return trace.spans.map((s) => {
    const proc = trace.processes[s.processID]!;
    return {
      spanId: s.spanID,
      parentId: s.references.find((r) => r.refType === "CHILD_OF" && r.traceID === traceId)?.spanID,
      name: s.operationName,
      service: proc.serviceName,
      resource: kv(proc.tags),
      tags: kv(s.tags),
      events: s.logs.map((l) => kv(l.fields)),
    };
  });
}

/**
 * Polls Jaeger until `done` holds for the trace and it has stopped growing for a second: spans arrive
 * batch by batch from many processes, and a parent ends (and is exported) after its children.
 */
function traceWhen(traceId: string, done: (spans: JSpan[]) => boolean, what: string): Promise<JSpan[]> {
  return eventually(
    async () => {
      const spans = await fetchTrace(traceId);
      if (!done(spans)) return undefined;
      await new Promise((r) => setTimeout(r, 1000));
      const again = await fetchTrace(traceId);
      return again.length === spans.length ? again : undefined;
    },
    60_000,
    what,
  );
}

const isConsumer = (s: JSpan, service: string) => s.service === service && s.tags["span.kind"] === "consumer";
const ofChunk = (s: JSpan, index: number) => s.tags["ferry.chunk_index"] === index;

/** Spans with a parent that is not in the trace (a context that was propagated but never exported). */
const orphans = (spans: JSpan[]) => {
  const ids = new Set(spans.map((s) => s.spanId));
  return spans.filter((s) => s.parentId !== undefined && !ids.has(s.parentId)).map((s) => `${s.service}: ${s.name}`);
};

/** The span and its ancestors up to the root, nearest first. */
function lineage(spans: JSpan[], s: JSpan): JSpan[] {
  const byId = new Map(spans.map((x) => [x.spanId, x]));
  const out = [s];
  for (let p = s.parentId && byId.get(s.parentId); p; p = p.parentId && byId.get(p.parentId)) out.push(p);
  return out;
}

/** Waits until the file is complete or failed and returns its record. */
async function finished(fileId: string): Promise<FileRecord> {
  return (await waitForFiles(t!.kv, [fileId], () => undefined, 90_000)).get(fileId)!;
}

/** Every JSON line of a worker's log (worker logs are in <dataDir>/logs/<stage>-<cloud>.log). */
function logLines(stage: string, cloud: string): Array<Record<string, unknown>> {
  const text = readFileSync(join(t!.pipeline.deployment.dataDir, "logs", `${stage}-${cloud}.log`), "utf8");
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("one trace per file in Jaeger", () => {
  it("holds the ingest and, under it, each chunk through process, one place span per replica and verify, across all clouds, without orphans", async () => {
    const path = join(dir, "traced.bin");
    writeFileSync(path, randomBytes(4 * CHUNK + 123));
    const chunks = 5;
    const { fileId, traceId } = await submitIngest(t!.hubJs, await checkIngestFile(path));
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const file = await finished(fileId);
    expect(file.state).toBe("complete");
    expect(file.traceId).toBe(traceId);

    // Complete once the orchestrator's span for every verified replica and for files.completed is in.
    const spans = await traceWhen(
      traceId!,
      (s) =>
        s.filter(
          (x) =>
            isConsumer(x, "ferry-orchestrator") &&
            String(x.tags["messaging.destination.name"]).startsWith("chunks.verified."),
        ).length ===
          chunks * 3 &&
        s.some((x) => x.name === "publish files.completed") &&
        s.some((x) => isConsumer(x, "ferry-ingest") && x.name.startsWith("process files.collect.")),
      "the whole trace in Jaeger",
    );

    expect(orphans(spans)).toEqual([]);
    const roots = spans.filter((s) => s.parentId === undefined);
    expect(roots.map((s) => [s.service, s.name, s.tags["span.kind"]])).toEqual([
      ["ferry-cli", "publish files.ingest", "producer"],
    ]);
    expect(roots[0]!.tags["messaging.system"]).toBe("nats");
    expect(roots[0]!.tags["ferry.file_id"]).toBe(fileId);
    expect(new Set(spans.map((s) => s.service))).toEqual(
      new Set(["ferry-cli", ...STAGE_SERVICES, "ferry-orchestrator"]),
    );

    // Ingest and process run in the cloud that ingested the file; place and verify in each replica's cloud.
    const home = file.stagingClouds[0]!;
    const cloudsOf = (service: string) =>
      new Set(spans.filter((s) => s.service === service).map((s) => s.resource["cloud.provider"]));
    expect(STAGE_SERVICES.map((service) => [service, cloudsOf(service)])).toEqual([
      ["ferry-ingest", new Set([home])],
      ["ferry-process", new Set([home])],
      ["ferry-place", new Set(CLOUDS)],
      ["ferry-verify", new Set(CLOUDS)],
    ]);
    const clouds = new Set(
      spans.flatMap((s) => [s.resource["cloud.provider"], s.tags["cloud.provider"]]).filter((c) => c !== undefined),
    );
    expect(clouds).toEqual(new Set(CLOUDS));

    // The home cloud's ingest worker takes the request, and later the orchestrator's request to delete its staging.
    const collect = spans.find((s) => s.service === "ferry-orchestrator" && s.name === `publish files.collect.${home}`);
    const ingest = spans.filter((s) => isConsumer(s, "ferry-ingest"));
    expect(ingest.map((s) => [s.name, s.parentId, s.tags["messaging.nats.message.delivery_count"]]).sort()).toEqual([
      [`process files.collect.${home}`, collect?.spanId, 1],
      ["process files.ingest", roots[0]!.spanId, 1],
    ]);

    for (let i = 0; i < chunks; i++) {
      const replicas = spans.filter((s) => s.name === "place replica" && ofChunk(s, i));
      expect(replicas.map((s) => s.tags["cloud.provider"]).sort(), `chunk ${i}`).toEqual([...CLOUDS].sort());
      for (const r of replicas) {
        expect(r.tags["ferry.store.key"]).toMatch(new RegExp(`^chunks/${fileId}/${i}-[0-9a-f]{64}$`));
        // The test pipeline's stores are fs stores named after their cloud.
        expect(r.tags["ferry.store.kind"]).toBe("fs");
        expect(r.tags["ferry.store.bucket"]).toBe(r.tags["cloud.provider"]);
      }
      const verifies = spans.filter((s) => isConsumer(s, "ferry-verify") && ofChunk(s, i));
      expect(verifies.length, `verify spans of chunk ${i}`).toBe(3);
      expect(verifies.map((v) => v.resource["cloud.provider"]).sort()).toEqual([...CLOUDS].sort());
      for (const v of verifies) {
        const cloud = String(v.resource["cloud.provider"]);
        expect(v.name).toBe(`process chunks.placed.${cloud}`);
        expect(v.tags["messaging.nats.message.delivery_count"]).toBe(1);
        // Each verify hangs under its replica's place span (same cloud), the chunk's process and ingest
        // spans in the staging cloud, and the file's publish.
        const path = lineage(spans, v).map((s) => `${s.service}: ${s.name}`);
        expect(path).toEqual([
          `ferry-verify: process chunks.placed.${cloud}`,
          `ferry-place: publish chunks.placed.${cloud}`,
          "ferry-place: place replica",
          `ferry-place: process chunks.processed.${home}`,
          `ferry-process: publish chunks.processed.${home}`,
          `ferry-process: process chunks.ingested.${home}`,
          `ferry-ingest: publish chunks.ingested.${home}`,
          "ferry-ingest: ingest chunk",
          "ferry-ingest: process files.ingest",
          "ferry-cli: publish files.ingest",
        ]);
        expect(
          lineage(spans, v)
            .filter((s) => s.tags["ferry.chunk_index"] !== undefined)
            .every((s) => ofChunk(s, i)),
        ).toBe(true);
      }
    }
  });

  it("shows both attempts of a chunk that was retried, the first failed with its exception", async () => {
    const fileId = "traced-retry-1";
    const path = join(dir, "retried.bin");
    const data = randomBytes(3 * CHUNK);
    writeFileSync(path, data);
    // A damaged object already sits under chunk 1's replica key on gcp, with the wrong size: the place
    // worker removes it and fails the attempt (retryable); the redelivered message copies it again.
    const key = replicaKey(fileId, 1, sha256(data.subarray(CHUNK, 2 * CHUNK)));
    await t!.stores.get("gcp")!.put(key, Readable.from([Buffer.alloc(10, 7)]));
    const { traceId } = await publishTraced(
      t!.hubJs,
      "files.ingest",
      encodeEvent({ fileId, path }),
      { msgID: `ingest:${fileId}` },
      { root: true },
    );
    const file = await finished(fileId);
    expect(file.state).toBe("complete");
    expect(file.traceId).toBe(traceId);

    // gcp's own place worker writes gcp's replica: it is the one that meets the damaged object.
    const onGcp = (x: JSpan) => x.resource["cloud.provider"] === "gcp";
    const spans = await traceWhen(
      traceId!,
      (s) =>
        s.filter((x) => isConsumer(x, "ferry-verify")).length === 3 * 3 &&
        s.filter((x) => isConsumer(x, "ferry-place") && ofChunk(x, 1) && onGcp(x)).length === 2,
      "both place attempts of chunk 1 on gcp and every verify",
    );
    expect(orphans(spans)).toEqual([]);
    const attempts = spans
      .filter((s) => isConsumer(s, "ferry-place") && ofChunk(s, 1) && onGcp(s))
      .sort(
        (a, b) =>
          Number(a.tags["messaging.nats.message.delivery_count"]) -
          Number(b.tags["messaging.nats.message.delivery_count"]),
      );
    expect(attempts.map((s) => s.tags["messaging.nats.message.delivery_count"])).toEqual([1, 2]);
    // The same message delivered twice: both attempts hang under the one publish of chunks.processed.
    expect(attempts[0]!.parentId).toBe(attempts[1]!.parentId);
    expect(attempts[0]!.tags["otel.status_code"]).toBe("ERROR");
    expect(attempts[1]!.tags["otel.status_code"]).not.toBe("ERROR");
    const exception = attempts[0]!.events.find((e) => e.event === "exception");
    expect(String(exception?.["exception.message"])).toMatch(/had 10 bytes instead of 65536; removed, will copy again/);
    expect(exception?.["exception.type"]).toBe("StoreUnavailableError");
    // Only the gcp replica of the first attempt failed; its own span says so.
    const failedReplicas = spans.filter((s) => s.name === "place replica" && s.tags["otel.status_code"] === "ERROR");
    expect(failedReplicas.map((s) => [s.tags["cloud.provider"], s.parentId])).toEqual([["gcp", attempts[0]!.spanId]]);

    // The worker's log line about the retry leads to this trace and this chunk.
    const retry = logLines("place", "gcp").find((l) => l.msg === "will retry" && l.fileId === fileId);
    expect(retry).toMatchObject({
      trace_id: traceId,
      span_id: attempts[0]!.spanId,
      index: 1,
      stage: "place",
      cloud: "gcp",
    });
  });
});

/** Every TCP address `pid` listens on, from /proc: its socket inodes matched with the kernel's LISTEN rows. */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        } catch {
          return undefined; // closed meanwhile
        }
      })
      .filter((x) => x !== undefined),
  );
  const out: string[] = [];
  for (const table of ["tcp", "tcp6"]) {
    for (const row of readFileSync(`/proc/${pid}/net/${table}`, "utf8").trim().split("\n").slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f[3] !== "0A" || !inodes.has(f[9]!)) continue; // 0A: LISTEN
      const [hexIp, hexPort] = f[1]!.split(":");
      const ip =
        hexIp!.length === 8
          ? hexIp!
              .match(/../g)!
              .reverse()
              .map((b) => parseInt(b, 16))
              .join(".")
          : `[${hexIp}]`;
      out.push(`${ip}:${parseInt(hexPort!, 16)}`);
    }
  }
  return out.sort();
}

describe("a local Jaeger", () => {
  it("listens only on loopback, on the two ports it was given plus one the OS picked, so a second one runs beside it", async () => {
    const [otlpPort, queryPort] = await freePorts(2);
    const second = await startLocalJaeger({
      otlpPort: otlpPort!,
      queryPort: queryPort!,
      dataDir: join(dir, "jaeger-2"),
    });
    try {
      for (const j of [jaeger!, second]) {
        const addrs = listeningAddresses(j.process.pid!);
        expect(
          addrs.every((a) => a.startsWith("127.0.0.1:")),
          addrs.join(" "),
        ).toBe(true);
        expect(addrs.length, addrs.join(" ")).toBe(3); // OTLP/HTTP, query HTTP, query gRPC on an OS-picked port
        const res = await fetch(`${j.queryUrl}/api/services`);
        expect(res.status).toBe(200);
      }
      expect(listeningAddresses(second.process.pid!)).toEqual(
        expect.arrayContaining([`127.0.0.1:${otlpPort}`, `127.0.0.1:${queryPort}`]),
      );
    } finally {
      await second.process.stop();
    }
  });
});

describe("logs lead to the trace", () => {
  it("carries the trace id of its file on every log line about a chunk that failed", async () => {
    // Chunk 0 is valid JSON lines; chunk 1 holds a line that is not JSON, so validation dead-letters it.
    const line = `${JSON.stringify({ text: "x".repeat(100) })}\n`;
    const good = line.repeat(Math.ceil(CHUNK / line.length));
    const path = join(dir, "broken.jsonl");
    writeFileSync(path, `${good}this line is not json\n${line}`);
    const { fileId, traceId } = await submitIngest(t!.hubJs, await checkIngestFile(path), {
      transforms: ["validate-jsonl"],
    });
    const file = await finished(fileId);
    expect(file.state).toBe("failed");
    expect(file.reason).toMatch(/chunk 1/);
    expect((await readFileRecord(t!.kv, fileId))?.traceId).toBe(traceId);

    const home = file.stagingClouds[0]!;
    const lines = logLines("process", home).filter(
      (l) => l.fileId === fileId && l.index === 1 && (l.level as number) >= 40,
    );
    expect(lines.map((l) => l.msg)).toContain("dead-lettered");
    for (const l of lines) expect(l).toMatchObject({ trace_id: traceId, stage: "process", cloud: home });

    // The line's span is the failed process span in Jaeger, and the dead letter was published under it.
    const dead = lines.find((l) => l.msg === "dead-lettered")!;
    const spans = await traceWhen(
      traceId!,
      (s) => s.some((x) => x.spanId === dead.span_id) && s.some((x) => x.name.startsWith("publish deadletter.")),
      "the failed chunk's spans",
    );
    const failed = spans.find((s) => s.spanId === dead.span_id)!;
    expect([failed.service, failed.name, failed.tags["otel.status_code"]]).toEqual([
      "ferry-process",
      `process chunks.ingested.${home}`,
      "ERROR",
    ]);
    expect(spans.find((s) => s.name === `publish deadletter.process.${home}`)?.parentId).toBe(failed.spanId);
    expect(orphans(spans)).toEqual([]);
  });
});
