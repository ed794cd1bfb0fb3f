/**
 * The NATS permission matrix on a real deployment (`ferry up`, fs stores): every server refuses a
 * client without credentials or with a seed it does not know; each identity is refused what its job
 * does not need (another stage's or cloud's subjects, another identity's replies, stream and KV
 * management), and nothing it tried changed anything; and the pipeline, every identity doing its own
 * job, completes a file with no permission violation in any server's log.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createUser } from "@nats-io/nkeys";
import {
  AuthorizationError,
  connect,
  type NatsConnection,
  nkeyAuthenticator,
  PermissionViolationError,
} from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DashboardState } from "../../dashboard/state.ts";
import { connectNats } from "../../shared/nats/connect.ts";
import { natsCredentialsDir } from "../../shared/nats/credentials.ts";
import { leafLinks } from "../../shared/nats/monitoring.ts";
import { pollUntil } from "../../shared/retry.ts";
import { cloudStream, EVENTS_STREAM, FILES_STREAM, MANIFEST_BUCKET } from "../../shared/stream-names.ts";
import { issueServerCert } from "../../shared/tls/certificates.ts";
import type { Deployment } from "../../shared/topology/deployment.ts";
import { hubUrls } from "../../shared/topology/deployment.ts";
import { adminOf } from "../../shared/topology/nats-identities.ts";
import { resolveNatsServerBinary } from "../../supervisor/nats-server.ts";
import { freePorts } from "../../supervisor/ports.ts";
import { readRunState } from "../../supervisor/run-state.ts";
import { jsonLines, runCli } from "../helpers/cli.ts";
import { type CliDeployment, upWithCli } from "../helpers/cli-deployment.ts";
import { sha256, writeRandomFile } from "../helpers/files.ts";

let d: CliDeployment;
let dep: Deployment;
const conns: NatsConnection[] = [];

beforeAll(async () => {
  d = await upWithCli({ chunkSize: 64 * 1024, stores: "fs" });
  dep = d.deployment;
});

afterAll(async () => {
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
  await d?.down();
});

/** Connects as `identity` to the hub or to a cloud's leaf. */
async function as(identity: string, where: "hub" | string): Promise<NatsConnection> {
  const url = where === "hub" ? hubUrls(dep) : (dep.leaves[where]?.url as string);
  const nc = await connectNats(url, `test-${identity}`, { name: identity, home: d.home });
  conns.push(nc);
  return nc;
}

/** A server maps its own domain's API (`$JS.hub.API.X`) onto the local one before it checks permissions. */
const local = (subject: string): string => subject.replace(/^\$JS\.(hub|aws|gcp|azure)\.API\./, "$JS.API.");

/** Publishes on `subject` and resolves with the permission error the server sends back, if any within 3 s. */
async function publishRefusal(nc: NatsConnection, subject: string): Promise<PermissionViolationError | undefined> {
  const seen = (async () => {
    for await (const s of nc.status()) {
      if (
        s.type === "error" &&
        s.error instanceof PermissionViolationError &&
        local(s.error.subject) === local(subject)
      )
        return s.error;
    }
    return undefined;
  })();
  nc.publish(subject, "forged");
  await nc.flush();
  return Promise.race([seen, new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000))]);
}

async function expectPublishRefused(identity: string, where: string, subject: string): Promise<void> {
  const err = await publishRefusal(await as(identity, where), subject);
  expect(err?.operation, `${identity} publishing ${subject}`).toBe("publish");
}

async function expectSubscribeRefused(identity: string, where: string, subject: string): Promise<void> {
  const nc = await as(identity, where);
  const sub = nc.subscribe(subject);
  const closed = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r("open"), 3000))]);
  expect(closed, `${identity} subscribing to ${subject}`).toBeInstanceOf(PermissionViolationError);
}

/** How many messages `stream` on the server at `url` holds. */
async function messagesIn(where: string, stream: string): Promise<number> {
  const nc = await connectNats(
    where === "hub" ? hubUrls(dep) : (dep.leaves[where]?.url as string),
    "test-count",
    adminOf(dep),
  );
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  } finally {
    await nc.close();
  }
}

const serverLogs = (): string =>
  readdirSync(join(d.home, "logs"))
    .filter((f) => ["hub.log", "aws.log", "gcp.log", "azure.log"].includes(f))
    .map((f) => readFileSync(join(d.home, "logs", f), "utf8"))
    .join("\n");

describe("every identity doing its own job", () => {
  it("completes a file, reads it back, and no server logs a permission violation", async () => {
    const path = join(d.work, "own-job.bin");
    writeRandomFile(path, 5 * 64 * 1024 + 17);
    const r = await runCli(["ingest", path, "--wait", "--json"], { env: d.env });
    expect(r.code, r.stderr).toBe(0);
    const [file] = jsonLines<{ fileId: string; state: string }>(r.stdout);
    expect(file?.state).toBe("complete");
    const out = join(d.work, "own-job.out");
    for (const args of [
      ["--from", "gcp"],
      ["--objects", "gateway"],
    ]) {
      const got = await runCli(["get", file?.fileId as string, "-o", out, ...args], { env: d.env });
      expect(got.code, got.stderr).toBe(0);
      expect(sha256(readFileSync(out))).toBe(sha256(readFileSync(path)));
    }
    for (const cmd of [["status"], ["report"], ["dead-letters"]]) {
      expect((await runCli(cmd, { env: d.env })).code, cmd.join(" ")).toBe(0);
    }
    expect(serverLogs()).not.toMatch(/Violation/);
  });

  it("keeps the seeds owner-only, one file per identity, out of deployment.json and the configs", () => {
    const dir = natsCredentialsDir(d.home);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const seeds = readdirSync(dir).filter((f) => f.endsWith(".nk"));
    expect(seeds).toContain("verify-gcp.nk");
    const texts = [
      readFileSync(join(d.home, "deployment.json"), "utf8"),
      ...readdirSync(join(d.home, "nats"))
        .filter((f) => f.endsWith(".conf"))
        .map((f) => readFileSync(join(d.home, "nats", f), "utf8")),
    ];
    for (const f of seeds) {
      expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
      const seed = readFileSync(join(dir, f), "utf8").trim();
      for (const t of texts) expect(t.includes(seed), `${f} leaked`).toBe(false);
    }
  });
});

/** TLS options trusting the deployment's CA, so that what a test sees refused is the identity, not the link. */
const trustingTheCa = () => ({ tls: { caFile: dep.tls.caFile } });

describe("a client the deployment does not know", () => {
  const servers = (): Array<[string, string]> => [
    ...dep.hubNodes.map((n) => [n.name, n.url] as [string, string]),
    ...Object.entries(dep.leaves).map(([c, l]) => [c, l.url] as [string, string]),
  ];

  it("is refused by the hub and every leaf without credentials", async () => {
    for (const [name, url] of servers()) {
      const err = await connect({ servers: url, reconnect: false, ...trustingTheCa() }).then(
        (nc) => nc.close().then(() => undefined),
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(AuthorizationError);
    }
  });

  it("is refused by the hub and every leaf with a seed of its own", async () => {
    for (const [name, url] of servers()) {
      const stranger = nkeyAuthenticator(createUser().getSeed());
      const err = await connect({ servers: url, reconnect: false, authenticator: stranger, ...trustingTheCa() }).then(
        (nc) => nc.close().then(() => undefined),
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(AuthorizationError);
    }
  });
});

describe("a leaf server the deployment does not know", () => {
  /** Starts a leaf nats-server named `name` dialling the hub's leaf port with `auth` in its remote; returns its log after 4 s. */
  async function strayLeaf(name: string, auth: string): Promise<{ log: string; linked: boolean }> {
    const dir = join(d.work, name);
    mkdirSync(dir, { recursive: true });
    const [port] = await freePorts(1);
    const conf = join(dir, "leaf.conf");
    // A certificate from the deployment's own CA: the TLS handshake passes, so the refusal is about the seed.
    const cert = { certFile: join(dir, "leaf.pem"), keyFile: join(dir, "leaf-key.pem") };
    issueServerCert({ certFile: dep.tls.caFile, keyFile: join(dep.tls.dir, "ca-key.pem") }, cert, name, ["localhost"]);
    const tls = `tls: { cert_file: "${cert.certFile}", key_file: "${cert.keyFile}", ca_file: "${dep.tls.caFile}" }`;
    writeFileSync(
      conf,
      `server_name: "${name}"\nlisten: "127.0.0.1:${port}"\nleafnodes { reconnect: "1s"\n remotes: [ { urls: ["nats-leaf://127.0.0.1:${dep.hub.leafPort}"], ${tls}${auth ? `, ${auth}` : ""} } ] }\n`,
    );
    const log = join(dir, "leaf.log");
    const child = spawn(resolveNatsServerBinary(), ["-c", conf, "-l", log], { stdio: "ignore" });
    const exited = new Promise((r) => child.once("exit", r));
    try {
      await new Promise((r) => setTimeout(r, 4000));
      const links = await leafLinks({ monitorPort: dep.hub.monitorPort }, []);
      return { log: readFileSync(log, "utf8"), linked: Object.keys(links).includes(name) };
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  }

  it("is refused by the hub without credentials, and with another deployment's seed", async () => {
    const bare = await strayLeaf("stray-bare", "");
    expect(bare.linked).toBe(false);
    expect(bare.log).toMatch(/[Aa]uthorization [Vv]iolation/);
    const foreign = new TextDecoder().decode(createUser().getSeed());
    const other = await strayLeaf("stray-foreign", `nkey: "${foreign}"`);
    expect(other.linked).toBe(false);
    expect(other.log).toMatch(/[Aa]uthorization [Vv]iolation/);
  });
});

describe("each identity, trying what its job does not need, is refused", () => {
  it("a stage cannot publish another stage's or another cloud's events", async () => {
    await expectPublishRefused("ingest-aws", "aws", "chunks.processed.aws");
    await expectPublishRefused("process-aws", "aws", "chunks.verified.aws");
    await expectPublishRefused("verify-aws", "aws", "chunks.verified.gcp");
    await expectPublishRefused("verify-gcp", "gcp", "chunks.verified.aws");
    await expectPublishRefused("place-azure", "azure", "files.completed");
    await expectPublishRefused("gateway-aws", "aws", "chunks.placed.aws");
  });

  it("a forged chunks.verified.gcp published in aws never reaches gcp's stream (the leaf link refuses it)", async () => {
    const before = await messagesIn("gcp", cloudStream("gcp"));
    // admin may publish anything on its own server: the leaf link is what stops it crossing.
    const nc = await as("admin", "aws");
    await jetstream(nc)
      .publish("chunks.verified.gcp", "forged", { timeout: 2000 })
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await messagesIn("gcp", cloudStream("gcp"))).toBe(before);
  });

  it("a stage cannot read another cloud's events, nor create consumers on the hub's streams", async () => {
    await expectSubscribeRefused("process-aws", "aws", "chunks.ingested.gcp");
    await expectSubscribeRefused("place-aws", "aws", "chunks.>");
    await expectPublishRefused("process-aws", "aws", `$JS.hub.API.CONSUMER.CREATE.${EVENTS_STREAM}`);
    await expectPublishRefused("verify-aws", "aws", `$JS.gcp.API.CONSUMER.MSG.NEXT.${cloudStream("gcp")}.verify`);
  });

  it("a cloud's leaf link cannot take another cloud's work, read its events or forge its deliveries", async () => {
    // The hub checks a leaf link against the same users as clients: as a client, leaf-aws has the link's rights.
    for (const subject of [
      `$JS.hub.API.CONSUMER.MSG.NEXT.${EVENTS_STREAM}.orchestrator`,
      `$JS.hub.API.CONSUMER.MSG.NEXT.${FILES_STREAM}.ingest-gcp`,
      `$JS.ACK.${FILES_STREAM}.collect-gcp.1.7.7.7.1.1`,
      `$JS.hub.API.CONSUMER.CREATE.${EVENTS_STREAM}.spy.chunks.verified.gcp`,
      `$JS.hub.API.CONSUMER.DURABLE.CREATE.${EVENTS_STREAM}.spy`,
      `$JS.hub.API.STREAM.DELETE.${EVENTS_STREAM}`,
      "ferry.sourced.events.gcp.S.forged",
      "chunks.verified.gcp",
      "files.ingest.gcp",
      `$KV.${MANIFEST_BUCKET}.forged`,
    ])
      await expectPublishRefused("leaf-aws", "hub", subject);
    await expectSubscribeRefused("leaf-aws", "hub", "chunks.verified.gcp");
    await expectSubscribeRefused("leaf-aws", "hub", "ferry.sourced.work.gcp.>");
    await expectSubscribeRefused("leaf-aws", "hub", "_INBOX_verify-gcp.>");
  });

  it("no identity reads another's replies", async () => {
    await expectSubscribeRefused("cli", "hub", "_INBOX_orchestrator.>");
    await expectSubscribeRefused("dashboard", "hub", "_INBOX.>");
    await expectSubscribeRefused("place-gcp", "gcp", "_INBOX_place-aws.>");
  });

  it("the dashboard cannot ingest or publish on any pipeline subject", async () => {
    await expectPublishRefused("dashboard", "hub", "files.ingest");
    await expectPublishRefused("dashboard", "hub", "files.ingest.aws");
    await expectPublishRefused("dashboard", "hub", "chunks.verified.aws");
    await expectPublishRefused("dashboard", "hub", "files.collect.aws");
  });

  it("the CLI and the orchestrator cannot delete a stream, purge the manifest or write it behind the orchestrator", async () => {
    const files = await messagesIn("hub", FILES_STREAM);
    await expectPublishRefused("cli", "hub", `$JS.API.STREAM.DELETE.${FILES_STREAM}`);
    await expectPublishRefused("cli", "hub", `$JS.hub.API.STREAM.PURGE.KV_${MANIFEST_BUCKET}`);
    await expectPublishRefused("cli", "hub", `$KV.${MANIFEST_BUCKET}.file.forged`);
    await expectPublishRefused("orchestrator", "hub", `$JS.API.STREAM.DELETE.${EVENTS_STREAM}`);
    await expectPublishRefused("dashboard", "hub", `$JS.API.STREAM.PURGE.KV_${MANIFEST_BUCKET}`);
    await expectPublishRefused("supervisor", "hub", `$JS.API.STREAM.DELETE.${FILES_STREAM}`);
    expect(await messagesIn("hub", FILES_STREAM)).toBe(files);
    expect(await messagesIn("hub", `KV_${MANIFEST_BUCKET}`)).toBeGreaterThan(0);
  });
});

describe("ferry creds rotate", () => {
  it("replaces an identity's seed during an ingest: the file completes, the old seed is refused, the new one works", async () => {
    const path = join(d.work, "during-rotation.bin");
    writeRandomFile(path, 48 * 64 * 1024 + 5);
    const oldSeed = readFileSync(join(natsCredentialsDir(d.home), "process-aws.nk"), "utf8").trim();
    const ingest = runCli(["ingest", path, "--cloud", "aws", "--wait", "--json"], { env: d.env });
    await new Promise((r) => setTimeout(r, 1500));
    const rotate = await runCli(["creds", "rotate", "process-aws"], { env: d.env });
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stdout).toContain("old key dropped");
    const done = await ingest;
    expect(done.code, done.stderr).toBe(0);
    expect(jsonLines<{ state: string }>(done.stdout)[0]?.state).toBe("complete");
    const newSeed = readFileSync(join(natsCredentialsDir(d.home), "process-aws.nk"), "utf8").trim();
    expect(newSeed).not.toBe(oldSeed);
    const leaf = dep.leaves.aws?.url as string;
    const withSeed = (seed: string) =>
      connect({
        servers: leaf,
        reconnect: false,
        authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
        ...trustingTheCa(),
      }).then(
        (nc) => nc.close().then(() => "accepted"),
        (e: unknown) => e,
      );
    expect(await withSeed(oldSeed)).toBeInstanceOf(AuthorizationError);
    expect(await withSeed(newSeed)).toBe("accepted");
  });

  it("replaces the dashboard's seed while ferry up runs it: it reconnects with the new one and keeps showing new files", async () => {
    const oldSeed = readFileSync(join(natsCredentialsDir(d.home), "dashboard.nk"), "utf8").trim();
    const rotate = await runCli(["creds", "rotate", "dashboard"], { env: d.env });
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stdout).toContain("old key dropped");
    expect(readFileSync(join(natsCredentialsDir(d.home), "dashboard.nk"), "utf8").trim()).not.toBe(oldSeed);
    const path = join(d.work, "after-dashboard-rotation.bin");
    writeRandomFile(path, 3 * 64 * 1024);
    const ingest = await runCli(["ingest", path, "--wait", "--json"], { env: d.env });
    expect(ingest.code, ingest.stderr).toBe(0);
    const fileId = jsonLines<{ fileId: string }>(ingest.stdout)[0]?.fileId;
    const url = readRunState(d.home)?.dashboardUrl as string;
    await pollUntil(
      "the dashboard showing the file ingested after the rotation as complete",
      async () => {
        const state = (await (await fetch(new URL("/api/state", url))).json()) as DashboardState;
        return state.files.rows.some((f) => f.fileId === fileId && f.state === "complete") || "not yet";
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  });

  it("refuses an identity that does not exist, naming the ones that do", async () => {
    const r = await runCli(["creds", "rotate", "nobody"], { env: d.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no NATS identity "nobody" (identities: orchestrator');
  });
});
