/**
 * Roles: the hub and each cloud started by separate `ferry up --role` invocations, each in its own
 * home with its own bundle from `ferry plan --loopback`, sharing nothing but TCP (the store servers
 * each cloud runs are reached over loopback). A file ingested on the hub completes and reads back.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { submitIngest, waitForFiles } from "../../client/ingest.ts";
import { checkIngestFile } from "../../client/preflight.ts";
import { reassemble } from "../../client/reassemble.ts";
import { openManifest } from "../../shared/manifest.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { openStores } from "../../shared/stores/open-store.ts";
import { hubUrls, readDeployment } from "../../shared/topology/deployment.ts";
import { cliOf } from "../../shared/topology/nats-identities.ts";
import { runCli } from "../helpers/cli.ts";
import { sha256File, writeRandomFile } from "../helpers/files.ts";

const CLOUDS = ["aws", "gcp", "azure"];
let dir: string;
const homes: string[] = [];
let nc: NatsConnection | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-roles-"));
});
afterAll(async () => {
  await nc?.close();
  // Clouds first, then the hub, as an operator would take hosts down.
  for (const home of homes.reverse()) await runCli(["down", "--home", home]);
  rmSync(dir, { recursive: true, force: true });
});

it("runs the hub and each cloud as separate up --role invocations, and a file completes", {
  timeout: 420_000,
}, async () => {
  const topology = join(dir, "topology.json");
  writeFileSync(
    topology,
    JSON.stringify({
      clouds: [
        { name: "aws", store: { kind: "s3", bucket: "ferry-aws", local: true } },
        { name: "gcp", store: { kind: "gcs", bucket: "ferry-gcp", local: true } },
        { name: "azure", store: { kind: "azblob", container: "ferry-azure", local: true } },
      ],
      chunkSize: "64KiB",
      ackWait: "5s",
    }),
  );
  const bundles = join(dir, "hosts");
  const plan = await runCli([
    "plan",
    "--loopback",
    "--out",
    bundles,
    "--topology",
    topology,
    "--ca-dir",
    join(dir, "plan-ca"),
  ]);
  expect(plan.code, plan.stderr).toBe(0);

  const up = async (home: string, role: string[]): Promise<void> => {
    homes.push(home);
    const r = await runCli(["up", "--detach", "--home", home, ...role], { timeoutMs: 180_000 });
    expect(r.code, `${role.join(" ")}: ${r.stderr}${r.stdout}`).toBe(0);
  };
  await up(join(bundles, "hub"), ["--role", "hub", "--dashboard-port", "0"]);
  for (const cloud of CLOUDS) await up(join(bundles, cloud), ["--role", "cloud", "--cloud", cloud]);

  // A client that knows only the hub's addresses, from the hub host's bundle.
  const hubHost = readDeployment(join(bundles, "hub"));
  nc = await connectNats(hubUrls(hubHost), "test-roles", cliOf(hubHost));
  const hubJs = jetstream(nc, { domain: "hub" });
  const kv = await openManifest(hubJs);
  const path = join(dir, "roles.bin");
  const sha = writeRandomFile(path, 300 * 1024);
  const { fileId } = await submitIngest(hubJs, await checkIngestFile(path));
  const files = await waitForFiles(kv, [fileId], () => undefined, 240_000);
  const f = files.get(fileId);
  expect(f?.state, f?.reason).toBe("complete");

  const stores = openStores(hubHost);
  try {
    for (const cloud of CLOUDS) {
      const out = join(dir, `back-${cloud}`);
      await reassemble(kv, stores, fileId, out, { from: cloud, preference: [cloud] });
      expect(sha256File(out), `read back from ${cloud}`).toBe(sha);
    }
  } finally {
    await Promise.all([...stores.values()].map((s) => s.close()));
  }
});
