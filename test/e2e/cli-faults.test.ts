/**
 * The commands ride out faults, as a user meets them: the hub SIGKILLed (and restarted by `ferry up`)
 * while `ferry ingest --wait` waits; the hub frozen (SIGSTOP) under `ferry status` and under a wait.
 * Real nats-servers and workers started by `ferry up`; the stores are fs (what is tested is NATS).
 */
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listFileRecords, openManifest } from "../../shared/manifest.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { cliOf } from "../../shared/topology/nats-identities.ts";
import { type CliResult, jsonLines, runCli } from "../helpers/cli.ts";
import { type CliDeployment, upWithCli } from "../helpers/cli-deployment.ts";
import { eventually, sha256File, writeRandomFile } from "../helpers/files.ts";

let d: CliDeployment;

beforeAll(async () => {
  d = await upWithCli({ chunkSize: "256KiB", stores: "fs" });
});

afterAll(async () => {
  await d?.down();
});

/** Runs a CLI command, and tells how long it took. */
async function timed(args: string[]): Promise<CliResult & { seconds: number }> {
  const started = Date.now();
  const r = await runCli(args, { env: d.env, timeoutMs: 180_000 });
  return { ...r, seconds: (Date.now() - started) / 1000 };
}

/** Resolves once the file named `name` is in the manifest and not complete yet: its ingest is under way. */
async function inFlight(name: string): Promise<void> {
  const nc = await connectNats(d.deployment.hub.url, "test-watch", cliOf(d.deployment));
  try {
    const kv = await openManifest(jetstream(nc, { domain: d.deployment.topology.hubDomain }));
    const state = await eventually(
      async () => (await listFileRecords(kv)).find((f) => f.name === name)?.state,
      60_000,
      `${name} in the manifest`,
    );
    expect(state, `${name} finished before the hub could be hit: make it bigger`).not.toBe("complete");
  } finally {
    await nc.close();
  }
}

describe("the hub restarts while ingest --wait waits", () => {
  it("finishes the file, exits 0 and reports it complete and identical", async () => {
    const path = join(d.work, "restart.bin");
    const sha256 = writeRandomFile(path, 32 * 1024 * 1024);
    const hub = d.pid("hub");
    const waiting = timed(["ingest", path, "--wait", "--json"]);
    await inFlight("restart.bin");
    process.kill(hub, "SIGKILL");
    const r = await waiting;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("unexpected error");
    const [line] = jsonLines<{ fileId: string; state: string; sha256: string }>(r.stdout);
    expect(line).toMatchObject({ state: "complete", sha256 });
    expect(d.pid("hub")).not.toBe(hub); // `up` started it again
    const out = join(d.work, "restart.out");
    const got = await runCli(["get", line!.fileId, "-o", out], { env: d.env });
    expect(got.code, got.stderr).toBe(0);
    expect(sha256File(out)).toBe(sha256);
    console.log(`ingest --wait across a hub SIGKILL: ${r.seconds.toFixed(1)} s`);
  });
});

describe("a frozen hub", () => {
  it("makes status say which server does not answer and exit 1 within the default 10 s and a few", async () => {
    const hub = d.pid("hub");
    process.kill(hub, "SIGSTOP");
    try {
      const r = await timed(["status"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `^ferry: cannot reach the hub at ${d.deployment.hub.url}: no answer within 10 s \\(it accepts connections but says nothing`,
        ),
      );
      expect(r.seconds).toBeGreaterThanOrEqual(10);
      expect(r.seconds).toBeLessThan(18);
      console.log(`status against a frozen hub: exit ${r.code} after ${r.seconds.toFixed(1)} s`);
    } finally {
      process.kill(hub, "SIGCONT");
    }
  });

  it("stops a waiting ingest --timeout after the hub goes silent, naming it", async () => {
    const path = join(d.work, "frozen.bin");
    writeRandomFile(path, 32 * 1024 * 1024);
    const waiting = timed(["ingest", path, "--wait", "--timeout", "3s"]);
    await inFlight("frozen.bin");
    const hub = d.pid("hub");
    const frozenAt = Date.now();
    process.kill(hub, "SIGSTOP");
    try {
      const r = await waiting;
      const afterFreeze = (Date.now() - frozenAt) / 1000;
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `ferry: the hub at ${d.deployment.hub.url} has not answered for 3 s (the connection is open but nothing comes back`,
      );
      expect(afterFreeze).toBeLessThan(3 + 4);
      console.log(
        `ingest --wait --timeout 3s against a hub frozen mid-wait: exit ${r.code} ${afterFreeze.toFixed(1)} s after the freeze`,
      );
    } finally {
      process.kill(hub, "SIGCONT");
    }
  });
});
