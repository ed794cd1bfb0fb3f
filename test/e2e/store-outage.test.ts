/**
 * Stores that go away: a store server stopped in the middle of a run and started again, and a store
 * whose connections are reset for a while (toxiproxy). The pipeline waits, retries with backoff
 * instead of spinning, dead-letters nothing, and completes with every byte in place.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listDeadLetters } from "../../client/dead-letters.ts";
import { submitIngest, waitForFiles } from "../../client/ingest.ts";
import { checkIngestFile } from "../../client/preflight.ts";
import { reassemble } from "../../client/reassemble.ts";
import { readFileRecord } from "../../shared/manifest.ts";
import { LOCAL_S3_CREDENTIALS as S3_LOCAL_CREDENTIALS } from "../../shared/stores/s3/local-server.ts";
import { startLocalStoreServer } from "../../supervisor/local-stores.ts";
import { freePorts } from "../../supervisor/ports.ts";
import type { ServerProcess } from "../../supervisor/server-process.ts";
import { startToxiproxy, type Toxiproxy } from "../../supervisor/toxiproxy.ts";
import { eventually, sha256File, writeRandomFile } from "../helpers/files.ts";
import { startTestPipeline, type TestPipeline } from "../helpers/pipeline.ts";

const CHUNK = 64 * 1024;
const LOCAL_CLOUDS = [
  { name: "aws", store: { kind: "s3", bucket: "ferry-aws", local: true } },
  { name: "gcp", store: { kind: "gcs", bucket: "ferry-gcp", local: true } },
  { name: "azure", store: { kind: "azblob", container: "ferry-azure", local: true } },
];

/** Reads the file back from `cloud`'s store alone and returns its SHA-256. */
async function readBackFrom(t: TestPipeline, fileId: string, cloud: string): Promise<string> {
  const out = join(t.dir, `back-${fileId}-${cloud}`);
  await reassemble(t.kv, t.stores, fileId, out, { from: cloud, preference: [cloud] });
  return sha256File(out);
}

/** One "will retry" log line: a delivery of a message that failed and was put back with a delay. */
interface RetryLine {
  subject: string;
  /** The message's sequence in its stream (with the subject, it names the message). */
  seq: number;
  attempt: number;
  delayMs: number;
  /** When it was logged (ms since the epoch). */
  time: number;
  err: string;
}

/**
 * "will retry" lines every stage worker logged. Which stage meets the broken store first depends on
 * which cloud's ingest worker took the file: ingest itself when it was the broken cloud (its staging
 * store), place otherwise.
 */
function retriesLogged(t: TestPipeline): RetryLine[] {
  const logs = join(t.pipeline.deployment.dataDir, "logs");
  return readdirSync(logs)
    .filter((f) => /^(ingest|process|place|verify)-\w+\.log$/.test(f))
    .flatMap((f) => readFileSync(join(logs, f), "utf8").split("\n"))
    .filter((l) => l.includes('"will retry"'))
    .map((l) => JSON.parse(l) as RetryLine);
}

/** The logged retries of each message, in the order of its attempts. */
function retriesPerMessage(lines: RetryLine[]): Map<string, RetryLine[]> {
  const out = new Map<string, RetryLine[]>();
  for (const l of lines) out.set(`${l.subject}#${l.seq}`, [...(out.get(`${l.subject}#${l.seq}`) ?? []), l]);
  for (const rs of out.values()) rs.sort((a, b) => a.attempt - b.attempt);
  return out;
}

/**
 * What is not backoff in the retries logged, per message: failed attempts that are not 1, 2, 3, ...
 * with none missing, a delay shorter than the one before it or not longer than the one two attempts
 * before, and a redelivery that came sooner than the delay the previous attempt announced (a spin).
 */
function backoffViolations(perMessage: Map<string, RetryLine[]>): string[] {
  const out: string[] = [];
  for (const [message, rs] of perMessage) {
    const attempts = rs.map((r) => r.attempt);
    if (attempts.some((a, i) => a !== i + 1)) out.push(`${message}: failed attempts ${attempts.join(", ")}`);
    for (let i = 1; i < rs.length; i++) {
      const [prev, cur] = [rs[i - 1]!, rs[i]!];
      if (cur.delayMs < prev.delayMs) out.push(`${message}: delay ${cur.delayMs} ms after ${prev.delayMs} ms`);
      if (i >= 2 && cur.delayMs <= rs[i - 2]!.delayMs)
        out.push(
          `${message}: attempt ${cur.attempt} waits ${cur.delayMs} ms, attempt ${cur.attempt - 2} waited as long`,
        );
      // 20 ms of slack for the log clock: the redelivery itself comes only after the nak's delay.
      if (cur.time - prev.time < prev.delayMs - 20)
        out.push(
          `${message}: attempt ${cur.attempt} came ${cur.time - prev.time} ms after one that asked for ${prev.delayMs} ms`,
        );
    }
  }
  return out;
}

/** The file's manifest record once it exists (the orchestrator projects files.accepted shortly after ingest takes it). */
const recordOf = (t: TestPipeline, fileId: string) =>
  eventually(() => readFileRecord(t.kv, fileId), 10_000, `the manifest record of ${fileId}`);

describe("a store server stopped mid-run and started again", () => {
  let t: TestPipeline;
  beforeAll(async () => {
    t = await startTestPipeline({ topology: { clouds: LOCAL_CLOUDS, chunkSize: CHUNK, maxAttempts: 3 } });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it("waits for it, dead-letters nothing, and completes with every replica", { timeout: 240_000 }, async () => {
    const path = join(t.dir, "outage.bin");
    const sha = writeRandomFile(path, 40 * CHUNK + 123);
    const gcs: ServerProcess = t.pipeline.localStores.get("gcp")!;
    await gcs.stop();
    const { fileId } = await submitIngest(t.hubJs, await checkIngestFile(path));

    // A chunk that meets the stopped store goes past maxAttempts (3) deliveries and is still not dead-lettered.
    const beyondMaxAttempts = () => (retriesLogged(t).some((r) => r.attempt > 3) ? true : undefined);
    await eventually(beyondMaxAttempts, 120_000, "a delivery beyond maxAttempts");
    // In flight, and not one chunk complete: none can have its gcp replica verified.
    const during = await recordOf(t, fileId);
    expect(["ingesting", "processing"]).toContain(during.state);
    expect(during).toMatchObject({ fileId, size: 40 * CHUNK + 123, chunksComplete: 0, completeBitmap: "" });
    expect(await listDeadLetters(t.hubJs)).toEqual([]);
    const retries = retriesLogged(t);
    expect(retries.every((r) => /StoreUnavailableError/.test(r.err) && r.err.includes("gcp"))).toBe(true);

    await gcs.start();
    const [done] = [...(await waitForFiles(t.kv, [fileId], () => {}, 150_000)).values()];
    expect(done!.state).toBe("complete");
    expect(done!.sha256).toBe(sha);
    expect(await listDeadLetters(t.hubJs)).toEqual([]);
    for (const cloud of ["aws", "gcp", "azure"]) expect(await readBackFrom(t, fileId, cloud)).toBe(sha);
  });
});

describe("a store whose connections are reset for a while", () => {
  let t: TestPipeline;
  let s3: ServerProcess;
  let toxiproxy: Toxiproxy;
  let dir: string | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ferry-outage-"));
    const [s3Port, linkPort, apiPort] = await freePorts(3);
    s3 = await startLocalStoreServer("s3", { port: s3Port!, dataDir: join(dir, "s3"), buckets: ["ferry-aws"] });
    toxiproxy = await startToxiproxy({ apiPort: apiPort! });
    await toxiproxy.link("s3", linkPort!, `127.0.0.1:${s3Port}`);
    // aws as a real cloud would be configured: an endpoint, and credentials from the environment.
    const clouds = [
      { name: "aws", store: { kind: "s3", bucket: "ferry-aws", endpoint: `http://127.0.0.1:${linkPort}` } },
      ...LOCAL_CLOUDS.slice(1),
    ];
    const credentials = {
      AWS_ACCESS_KEY_ID: S3_LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_LOCAL_CREDENTIALS.secretAccessKey,
    };
    Object.assign(process.env, credentials); // for this process's own reads from the aws store
    t = await startTestPipeline({ topology: { clouds, chunkSize: CHUNK, maxAttempts: 3 }, workerEnv: credentials });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    await toxiproxy?.stop();
    await s3?.stop();
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("retries with growing delays, then completes once the link heals", { timeout: 240_000 }, async () => {
    const path = join(t.dir, "resets.bin");
    const sha = writeRandomFile(path, 20 * CHUNK + 7);
    await toxiproxy.addToxic("s3", { name: "resets", type: "reset_peer", attributes: { timeout: 0 } });
    const { fileId } = await submitIngest(t.hubJs, await checkIngestFile(path));
    // Wait for a third failed delivery of one message: two delays must have passed, each longer than the last.
    const thirdAttempt = () => (retriesLogged(t).some((r) => r.attempt >= 3) ? true : undefined);
    await eventually(thirdAttempt, 90_000, "a third failed attempt of one message");

    const during = await recordOf(t, fileId);
    expect(["ingesting", "processing"]).toContain(during.state);
    expect(during).toMatchObject({ fileId, size: 20 * CHUNK + 7, chunksComplete: 0, completeBitmap: "" });
    expect(await listDeadLetters(t.hubJs)).toEqual([]);
    const retries = retriesLogged(t);
    for (const r of retries) expect(r.err).toMatch(/StoreUnavailableError/);
    // Backoff, not a spin: per message, attempts 1, 2, 3... each failed and logged, delays that grow,
    // and no redelivery before the delay its previous attempt asked for.
    const perMessage = retriesPerMessage(retries);
    expect(Math.max(...[...perMessage.values()].map((rs) => rs.length))).toBeGreaterThanOrEqual(3);
    expect(backoffViolations(perMessage)).toEqual([]);
    for (const r of retries) expect(r.err).not.toContain(S3_LOCAL_CREDENTIALS.secretAccessKey);

    await toxiproxy.removeToxic("s3", "resets");
    const [done] = [...(await waitForFiles(t.kv, [fileId], () => {}, 150_000)).values()];
    expect(done!.state).toBe("complete");
    expect(await readBackFrom(t, fileId, "aws")).toBe(sha);
    expect(await listDeadLetters(t.hubJs)).toEqual([]);
    // The secret the workers were given appears in no log line, and in no file the deployment wrote.
    const logs = join(t.pipeline.deployment.dataDir, "logs");
    for (const f of readdirSync(logs))
      expect(readFileSync(join(logs, f), "utf8"), f).not.toContain(S3_LOCAL_CREDENTIALS.secretAccessKey);
    expect(readFileSync(join(t.pipeline.deployment.dataDir, "deployment.json"), "utf8")).not.toContain(
      S3_LOCAL_CREDENTIALS.secretAccessKey,
    );
  });
});
