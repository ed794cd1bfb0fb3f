/**
 * shared/nats/reliable.ts against a real nats-server: reads ride out a SIGKILL and restart; a frozen
 * (SIGSTOP) or absent server ends everything within the timeout with a message naming it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, StorageType } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../shared/errors.ts";
import { connectReliably, ServerUnreachableError } from "../../shared/nats/reliable.ts";
import { pause } from "../../shared/retry.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import type { ServerEndpoint } from "../../shared/topology/deployment.ts";
import { writeServerConfigs } from "../../shared/topology/nats-config.ts";
import { adminOf } from "../../shared/topology/nats-identities.ts";
import { NatsServer } from "../../supervisor/nats-server.ts";
import { planDeployment } from "../../supervisor/plan.ts";

let dir: string;
let hub: ServerEndpoint;
let home: string;
let server: NatsServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ferry-reliable-"));
  const d = await planDeployment(compileTopology({ clouds: [{ name: "aws" }] }), dir);
  writeServerConfigs(d);
  hub = d.hub;
  home = d.dataDir;
  server = await NatsServer.start(hub, { logFile: join(dir, "hub.log") });
});

afterAll(async () => {
  if (server?.pid) process.kill(server.pid, "SIGCONT");
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const open = (timeoutMs: number) =>
  connectReliably([hub.url], {
    name: "test-reliable",
    role: "the hub",
    timeoutMs,
    identity: adminOf({ dataDir: home }),
  });

describe("connectReliably", () => {
  it("reads through a server SIGKILL and restart, and the watcher stays quiet", async () => {
    const rc = await open(10_000);
    try {
      const js = jetstream(rc.nc, { domain: hub.domain });
      const kv = await new Kvm(js).create("reliable_test", { history: 1, storage: StorageType.File });
      await kv.put("k", "before");
      await server.kill();
      const restarted = pause(1500).then(() => NatsServer.start(hub, { logFile: join(dir, "hub.log") }));
      // Started while the server is down: it must wait out the restart, not fail.
      const value = await rc.run("reading k", async () => (await new Kvm(js).open("reliable_test")).get("k"));
      server = await restarted;
      expect(value?.string()).toBe("before");
      expect(rc.signal.aborted).toBe(false);
    } finally {
      await rc.close();
    }
  });

  it("aborts everything within the timeout when the server freezes, naming it", async () => {
    const rc = await open(1500);
    const pid = server.pid!;
    try {
      process.kill(pid, "SIGSTOP");
      const started = Date.now();
      const err = await rc
        .run("a read that cannot be answered", () => rc.nc.request("nobody.listens.here", "", { timeout: 60_000 }))
        .catch((e: unknown) => e);
      const seconds = (Date.now() - started) / 1000;
      expect(err).toBeInstanceOf(ServerUnreachableError);
      expect((err as Error).message).toBe(
        `the hub at ${hub.url} has not answered for 1.5 s (the connection is open but nothing comes back: stopped or overloaded?)`,
      );
      expect(seconds).toBeLessThan(1.5 + 2);
      expect(rc.signal.aborted).toBe(true);
    } finally {
      process.kill(pid, "SIGCONT");
      await rc.close();
    }
  });

  it("gives up on an absent server within the timeout, saying why", async () => {
    const started = Date.now();
    const err = await connectReliably(["nats://127.0.0.1:1"], { name: "t", role: "the hub", timeoutMs: 1000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServerUnreachableError);
    expect((err as Error).message).toMatch(
      /^cannot reach the hub at nats:\/\/127\.0\.0\.1:1: no answer within 1 s \(ConnectionError: connection refused/,
    );
    expect((Date.now() - started) / 1000).toBeLessThan(3);
  });

  it("passes ferry's own errors through at once, and stops retrying a failing read after the timeout", async () => {
    const rc = await open(1000);
    try {
      let tries = 0;
      const answer = await rc
        .run("a lookup", async () => {
          tries++;
          throw new InputError("no such file");
        })
        .catch((e: unknown) => e);
      expect(answer).toBeInstanceOf(InputError);
      expect(tries).toBe(1);
      const failing = await rc
        .run("reading a bucket that is not there", async () =>
          (await new Kvm(jetstream(rc.nc, { domain: hub.domain })).open("none")).get("k"),
        )
        .catch((e: unknown) => e);
      expect(failing).toBeInstanceOf(ServerUnreachableError);
      expect((failing as Error).message).toMatch(
        /^reading a bucket that is not there: the hub at .* kept failing for 1 s \(last error: /,
      );
      expect(rc.signal.aborted).toBe(false);
    } finally {
      await rc.close();
    }
  });
});
