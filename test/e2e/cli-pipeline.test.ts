/**
 * The product as a user drives it: `ferry up --detach`, `ingest --wait --json`, `status`, `get`, `down`,
 * against real nats-server processes (hub + three leaves), real worker processes, and the three
 * clouds' real protocol servers (versitygw for S3, fake-gcs-server for GCS, Azurite for Azure Blob).
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats } from "../../shared/nats/connect.ts";
import { openStores } from "../../shared/stores/open-store.ts";
import type { BlobStore } from "../../shared/stores/types.ts";
import type { Deployment } from "../../shared/topology/deployment.ts";
import { readDeployment } from "../../shared/topology/deployment.ts";
import { adminOf, cliOf } from "../../shared/topology/nats-identities.ts";
import { isRunning } from "../../supervisor/proc.ts";
import { readRunState } from "../../supervisor/run-state.ts";
import { jsonLines, runCli } from "../helpers/cli.ts";
import { eventually, listFiles, sha256File, writeRandomFile } from "../helpers/files.ts";
import { ingestRequestsOnHub } from "../helpers/hub.ts";
import { listAll, readAll } from "../helpers/stores.ts";

const CHUNK = 64 * 1024;

interface IngestLine {
  fileId: string;
  traceId?: string;
  name: string;
  size: number;
  sha256: string | null;
  chunkCount: number | null;
  state: string;
  reason?: string;
}
interface FileStatus {
  fileId: string;
  state: string;
  size: number;
  sha256: string;
  chunkCount: number;
  chunks: Array<{
    index: number;
    offset: number;
    size: number;
    sha256: string;
    replicas: Array<{ cloud: string; store: string; bucket: string; key: string; verified: boolean }>;
  }>;
}

let work: string;
let home: string;
let env: NodeJS.ProcessEnv;
let deployment: Deployment;
let stores: Map<string, BlobStore>;
let dashboardUrl: string | undefined;
/** What each cloud's replicas must live in: the three real protocols. */
const STORES = {
  aws: { kind: "s3", bucket: "ferry-e2e-aws", local: true },
  gcp: { kind: "gcs", bucket: "ferry-e2e-gcp", local: true },
  azure: { kind: "azblob", container: "ferry-e2e-azure", local: true },
} as const;
let pids: number[] = [];
/** A file ingested early on, read back again after the deployment restarts. */
let keptFile: { fileId: string; sha256: string } | undefined;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ferry-e2e-"));
  home = join(work, "home");
  const topology = join(work, "topology.json");
  writeFileSync(
    topology,
    JSON.stringify({
      clouds: Object.entries(STORES).map(([name, store]) => ({ name, store })),
      replicas: 3,
      chunkSize: CHUNK,
      ackWait: "5s",
      maxAttempts: 3,
    }),
  );
  env = { FERRY_HOME: home, FERRY_TOPOLOGY: topology };
  const up = await runCli(["up", "--detach", "--port", "0"], { env });
  expect(up.code, up.stderr).toBe(0);
  expect(up.stdout).toContain("ferry is up");
  deployment = readDeployment(home);
  stores = openStores(deployment);
  dashboardUrl = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(up.stdout)?.[1];
  const run = readRunState(home);
  pids = [run!.supervisorPid, ...Object.values(run!.pids)];
  // supervisor, hub + 3 leaves, 3 store servers, Jaeger, orchestrator + 12 stage workers, 3 gateways
  expect(pids.length).toBe(1 + 4 + 3 + 1 + 13 + 3);
});

afterAll(async () => {
  await Promise.all([...(stores?.values() ?? [])].map((s) => s.close()));
  const down = await runCli(["down"], { env });
  expect(down.code, down.stderr).toBe(0);
  const alive = pids.filter(isRunning);
  rmSync(work, { recursive: true, force: true });
  expect(alive).toEqual([]);
});

describe("ingest, status and get through the CLI", () => {
  const cases = [
    { name: "empty.bin", size: 0, chunks: 0 },
    { name: "one-byte.bin", size: 1, chunks: 1 },
    { name: "exactly-one-chunk.bin", size: CHUNK, chunks: 1 },
    { name: "one-byte-over.bin", size: CHUNK + 1, chunks: 2 },
    { name: "many chunks ünïcode.bin", size: 20 * CHUNK + 123, chunks: 21 },
  ];
  let results: IngestLine[];
  const sources = new Map<string, { path: string; sha256: string }>();

  beforeAll(async () => {
    const dir = join(work, "in");
    mkdirSync(dir, { recursive: true });
    for (const c of cases) {
      const path = join(dir, c.name);
      sources.set(c.name, { path, sha256: writeRandomFile(path, c.size) });
    }
    const r = await runCli(["ingest", ...cases.map((c) => sources.get(c.name)!.path), "--wait", "--json"], { env });
    expect(r.code, r.stderr).toBe(0);
    results = jsonLines<IngestLine>(r.stdout);
    const many = results.find((x) => x.chunkCount === 21);
    if (many) keptFile = { fileId: many.fileId, sha256: many.sha256! };
  });

  it("reports every file complete with its size, SHA-256 and chunk count", () => {
    expect(results.map((r) => [r.name, r.size, r.sha256, r.chunkCount, r.state])).toEqual(
      cases.map((c) => [c.name, c.size, sources.get(c.name)!.sha256, c.chunks, "complete"]),
    );
  });

  it("takes an object URL like a local file: s3://, gs:// and az:// each read by the cloud of its kind", async () => {
    const urls = { aws: "s3://ferry-e2e-aws", gcp: "gs://ferry-e2e-gcp", azure: "az://ferry-e2e-azure" };
    const data = Buffer.from(Array.from({ length: 3000 }, (_, n) => `{"n":${n}}\n`).join(""));
    for (const cloud of Object.keys(urls)) {
      await stores.get(cloud)!.put("datasets/train.jsonl", Readable.from([data]), { overwrite: true });
    }
    const r = await runCli(
      ["ingest", ...Object.values(urls).map((u) => `${u}/datasets/train.jsonl`), "--wait", "--json"],
      {
        env,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = jsonLines<IngestLine>(r.stdout);
    expect(lines.map((l) => [l.name, l.size, l.sha256, l.state])).toEqual(
      Object.keys(urls).map(() => [
        "train.jsonl",
        data.length,
        createHash("sha256").update(data).digest("hex"),
        "complete",
      ]),
    );
  });

  it("gives back every file byte-identical, from the nearest replica and from each cloud alone", async () => {
    for (const r of results) {
      for (const from of [undefined, "aws", "gcp", "azure"]) {
        const out = join(work, `out-${r.fileId}-${from ?? "any"}`);
        const got = await runCli(["get", r.fileId, "-o", out, ...(from ? ["--from", from] : [])], { env });
        expect(got.code, got.stderr).toBe(0);
        expect(sha256File(out)).toBe(sources.get(r.name)!.sha256);
        expect(statSync(out).size).toBe(r.size);
      }
    }
  });

  it("records three verified replicas per chunk, one per cloud, each present in its cloud's real store with the right size", async () => {
    for (const r of results) {
      const s = await runCli(["status", r.fileId, "--json"], { env });
      expect(s.code, s.stderr).toBe(0);
      const st = JSON.parse(s.stdout) as FileStatus;
      expect(st.state).toBe("complete");
      expect(st.chunks.length).toBe(st.chunkCount);
      expect(st.chunks.reduce((n, c) => n + c.size, 0)).toBe(r.size);
      for (const c of st.chunks) {
        expect(c.replicas.map((x) => x.cloud).sort()).toEqual(["aws", "azure", "gcp"]);
        for (const rep of c.replicas) {
          expect(rep.verified).toBe(true);
          const want = STORES[rep.cloud as keyof typeof STORES];
          expect(rep.store).toBe(want.kind);
          expect(rep.bucket).toBe("bucket" in want ? want.bucket : want.container);
          expect(rep.key).toMatch(/^[A-Za-z0-9/._-]+$/);
          expect(await stores.get(rep.cloud)!.head(rep.key)).toEqual({ key: rep.key, size: c.size });
        }
      }
      // Exactly one object per chunk in every store: nothing duplicated.
      for (const cloud of Object.keys(STORES)) {
        expect((await listAll(stores.get(cloud)!, `chunks/${r.fileId}/`)).length).toBe(st.chunkCount);
      }
    }
  });

  it("fails loudly instead of returning a wrong byte, and falls back to a good replica", async () => {
    const r = results.find((x) => x.name === "one-byte-over.bin")!;
    const st = JSON.parse((await runCli(["status", r.fileId, "--json"], { env })).stdout) as FileStatus;
    const rep = st.chunks[1]!.replicas.find((x) => x.cloud === "aws")!;
    const aws = stores.get("aws")!;
    const good = await readAll(await aws.get(rep.key));
    await aws.put(rep.key, Readable.from([Buffer.from([good[0]! ^ 0xff]), good.subarray(1)]), { overwrite: true }); // same size, one flipped byte
    try {
      const out = join(work, "from-bad-aws.bin");
      const bad = await runCli(["get", r.fileId, "-o", out, "--from", "aws"], { env });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(
        /chunk 1 of file .* could not be read from any replica \(aws: sha256 [0-9a-f]{64} instead of/,
      );
      expect(listFiles(work).filter((f) => f.startsWith("from-bad-aws"))).toEqual([]);
      const fallback = join(work, "fallback.bin");
      const ok = await runCli(["get", r.fileId, "-o", fallback], { env });
      expect(ok.code, ok.stderr).toBe(0);
      expect(sha256File(fallback)).toBe(sources.get(r.name)!.sha256);
    } finally {
      await aws.put(rep.key, Readable.from([good]), { overwrite: true });
    }
  });

  it("leaves every staging area empty once files are complete", async () => {
    const empty = async () => {
      for (const cloud of Object.keys(STORES))
        if ((await listAll(stores.get(cloud)!, "staging/")).length > 0) return undefined;
      return true;
    };
    // Each cloud's own ingest workers delete it, shortly after the file completes.
    await eventually(empty, 15_000, "every staging area empty");
  });

  it("cuts JSONL on record boundaries so every chunk holds whole lines", async () => {
    const path = join(work, "in", "corpus.jsonl");
    const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ id: i, text: "x".repeat(i % 97) }));
    writeFileSync(path, `${lines.join("\n")}\n`);
    const r = await runCli(["ingest", path, "--wait", "--json", "--validate", "jsonl"], { env });
    expect(r.code, r.stderr).toBe(0);
    const [line] = jsonLines<IngestLine>(r.stdout);
    expect(line!.state).toBe("complete");
    const st = JSON.parse((await runCli(["status", line!.fileId, "--json"], { env })).stdout) as FileStatus;
    expect(st.chunks.length).toBeGreaterThan(1);
    const bytes = readFileSync(path);
    for (const c of st.chunks) expect(bytes[c.offset + c.size - 1]).toBe(0x0a);
  });
});

describe("status", () => {
  it("shows the hub, every leaf linked, and every worker with stage, cloud and pid", async () => {
    const r = await runCli(["status", "--json"], { env });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as {
      hub: { url: string };
      leaves: Array<{ cloud: string; linked: boolean }>;
      workers: Array<{ stage: string; cloud: string; pid: number }>;
    };
    expect(s.hub.url).toBe(deployment.hub.url);
    expect(s.leaves).toEqual([
      expect.objectContaining({ cloud: "aws", linked: true }),
      expect.objectContaining({ cloud: "gcp", linked: true }),
      expect.objectContaining({ cloud: "azure", linked: true }),
    ]);
    const stages = s.workers.map((w) => `${w.cloud}/${w.stage}`).sort();
    expect(stages).toEqual([
      "aws/gateway",
      "aws/ingest",
      "aws/place",
      "aws/process",
      "aws/verify",
      "azure/gateway",
      "azure/ingest",
      "azure/place",
      "azure/process",
      "azure/verify",
      "gcp/gateway",
      "gcp/ingest",
      "gcp/place",
      "gcp/process",
      "gcp/verify",
      "hub/orchestrator",
    ]);
    expect(s.workers.every((w) => pids.includes(w.pid))).toBe(true);
    const text = await runCli(["status"], { env });
    expect(text.stdout).toContain("linked to hub");
    expect(text.stdout).toContain(`dashboard ${dashboardUrl}`);
  });

  it("serves the live dashboard and Prometheus metrics at the URL ferry up printed", async () => {
    expect(dashboardUrl).toBeDefined();
    const page = await fetch(dashboardUrl!);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    await page.body?.cancel();
    const metrics = await (await fetch(`${dashboardUrl}metrics`)).text();
    expect(metrics).toMatch(/^ferry_leaf_link_up\{cloud="gcp"\} 1$/m);
    expect(metrics).toMatch(/^ferry_stage_messages_total\{.*stage="verify".*\} [1-9]/m);
  });
});

describe("traces", () => {
  it("gives each ingested file a trace id whose trace Jaeger holds, and status links to it", {
    timeout: 60_000,
  }, async () => {
    const path = join(work, "in", "traced.bin");
    writeRandomFile(path, 3 * CHUNK);
    const r = await runCli(["ingest", path, "--wait", "--json"], { env });
    expect(r.code, r.stderr).toBe(0);
    const [line] = jsonLines<IngestLine>(r.stdout);
    expect(line!.traceId).toMatch(/^[0-9a-f]{32}$/);
    const st = await runCli(["status", line!.fileId], { env });
    const url = `${deployment.jaeger!.queryUrl}/trace/${line!.traceId}`;
    expect(st.stdout).toContain(url);
    // The Jaeger the set-up builds has no UI, so status leads to the dashboard's own view of the trace.
    const view = `${dashboardUrl}trace/${line!.traceId}`;
    expect(st.stdout).toContain(view);
    const page = await fetch(view);
    expect(page.status).toBe(200);
    await page.body?.cancel();
    const services = await eventually(
      async () => {
        const res = await fetch(`${deployment.jaeger!.queryUrl}/api/traces/${line!.traceId}`);
        if (res.status !== 200) return undefined;
        const body = (await res.json()) as { data: Array<{ processes: Record<string, { serviceName: string }> }> };
        const names = new Set(Object.values(body.data[0]?.processes ?? {}).map((p) => p.serviceName));
        return ["ferry-ingest", "ferry-process", "ferry-place", "ferry-verify"].every((n) => names.has(n))
          ? names
          : undefined;
      },
      30_000,
      "the file's trace in Jaeger",
    );
    expect(services.has("ferry-cli")).toBe(true);
  });
});

describe("bad input through the CLI", () => {
  it("refuses a missing file, a directory and an unreadable file, naming the problem, and publishes nothing", async () => {
    // Counted on the hub's FILES stream, where a publish lands before any worker or the orchestrator sees it.
    const before = await ingestRequestsOnHub(deployment.hub.url, deployment.topology.hubDomain, adminOf(deployment));
    expect(before.count).toBeGreaterThan(0); // the files ingested above: the stream is the one the CLI publishes to
    const good = join(work, "good.bin");
    writeRandomFile(good, 10);
    const missing = await runCli(["ingest", join(work, "nope.bin"), good], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.bin does not exist/);
    const dir = await runCli(["ingest", work], { env });
    expect(dir.code).toBe(2);
    expect(dir.stderr).toMatch(/is a directory/);
    const locked = join(work, "locked.bin");
    writeRandomFile(locked, 10);
    chmodSync(locked, 0o000);
    // root reads anything, so the unreadable case runs as an unprivileged user when we are root.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const unreadable = await runCli(["ingest", locked], { env, ...asNobody });
    expect(unreadable.code, unreadable.stderr).toBe(2);
    expect(unreadable.stderr).toMatch(/locked\.bin is not readable: permission denied/);
    expect(await ingestRequestsOnHub(deployment.hub.url, deployment.topology.hubDomain, adminOf(deployment))).toEqual(
      before,
    );
  });

  it("lists a malformed request published by another client among the dead letters, with its reason", async () => {
    const nc = await connectNats(deployment.hub.url, "test-raw-client", cliOf(deployment));
    nc.publish("files.ingest", "{ not json");
    await nc.flush();
    await nc.close();
    const letters = await eventually(
      async () => {
        const r = await runCli(["dead-letters", "--json"], { env });
        const all = jsonLines<{ stage: string; reason: string; payload: string }>(r.stdout);
        return all.some((l) => l.payload === "{ not json") ? all : undefined;
      },
      30_000,
      "the dead letter",
    );
    expect(letters.find((l) => l.payload === "{ not json")).toMatchObject({
      stage: "ingest",
      reason: expect.stringMatching(/ingest request is not JSON/),
    });
    const status = await runCli(["status"], { env });
    expect(status.stdout).toMatch(/latest dead letters[\s\S]*ingest request is not JSON/);
  });

  it("explains an unknown command and a missing argument", async () => {
    const r = await runCli(["inject"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "inject"');
    const g = await runCli(["get"], { env });
    expect(g.code).toBe(2);
    expect(g.stderr).toContain("-o <path>");
  });
});

describe("a nats-server that dies", () => {
  it("is started again by the supervisor, and files keep going through", async () => {
    const hubPid = readRunState(home)!.pids.hub!;
    process.kill(hubPid, "SIGKILL");
    const newPid = await eventually(
      () => {
        const pid = readRunState(home)?.pids.hub;
        return pid !== undefined && pid !== hubPid ? pid : undefined;
      },
      30_000,
      "the hub to be started again",
    );
    pids.push(newPid);
    const path = join(work, "after-hub-crash.bin");
    const sha = writeRandomFile(path, 2 * CHUNK + 3);
    const r = await runCli(["ingest", path, "--wait", "--json", "--max-wait", "60s"], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(jsonLines<IngestLine>(r.stdout)[0]).toMatchObject({ state: "complete", sha256: sha });
  });
});

describe("restarting the deployment", () => {
  it("keeps every file readable after down and up, and takes new files at once", async () => {
    const before = JSON.parse((await runCli(["status", "--json"], { env })).stdout) as { files: { total: number } };
    const down = await runCli(["down"], { env });
    expect(down.code, down.stderr).toBe(0);
    expect(pids.filter(isRunning)).toEqual([]);
    const up = await runCli(["up", "--detach", "--port", "0"], { env });
    expect(up.code, up.stderr).toBe(0);
    const run = readRunState(home)!;
    pids = [run.supervisorPid, ...Object.values(run.pids)];
    deployment = readDeployment(home);
    stores = openStores(deployment);
    dashboardUrl = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(up.stdout)?.[1];
    const after = JSON.parse((await runCli(["status", "--json"], { env })).stdout) as {
      files: { total: number; complete: number };
    };
    expect(after.files.total).toBe(before.files.total);
    const back = join(work, "kept-after-restart.bin");
    const got = await runCli(["get", keptFile!.fileId, "-o", back], { env });
    expect(got.code, got.stderr).toBe(0);
    expect(sha256File(back)).toBe(keptFile!.sha256);
    const path = join(work, "after-restart.bin");
    const sha = writeRandomFile(path, 3 * CHUNK + 1);
    const r = await runCli(["ingest", path, "--wait", "--json", "--max-wait", "60s"], { env });
    expect(r.code, r.stderr).toBe(0);
    const [line] = jsonLines<IngestLine>(r.stdout);
    expect(line).toMatchObject({ state: "complete", sha256: sha, chunkCount: 4 });
    const first = JSON.parse((await runCli(["status", "--json"], { env })).stdout) as { files: { total: number } };
    expect(first.files.total).toBe(before.files.total + 1);
  });
});
