/**
 * TLS on every NATS link, on real nats-servers: a client must trust the deployment's CA to connect
 * (to the hub and to a leaf), a plain-TCP client is refused, a leaf does not link to a hub whose
 * certificate is from another CA or for another name, and the hub takes no leaf whose own certificate
 * is from another CA (the hub's /leafz shows no link).
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNats } from "../../shared/nats/connect.ts";
import { natsAuthOptions } from "../../shared/nats/identity.ts";
import { leafLinks } from "../../shared/nats/monitoring.ts";
import { issueServerCert } from "../../shared/tls/certificates.ts";
import { ensureCaIn, serverCertFiles } from "../../shared/tls/deployment-tls.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import type { Deployment } from "../../shared/topology/deployment.ts";
import { layoutDeployment } from "../../shared/topology/layout.ts";
import { writeServerConfigs } from "../../shared/topology/nats-config.ts";
import { cliOf } from "../../shared/topology/nats-identities.ts";
import { NatsServer } from "../../supervisor/nats-server.ts";
import { type NatsTopology, startNatsTopology } from "../../supervisor/nats-topology.ts";
import { loopbackPorts, planDeployment } from "../../supervisor/plan.ts";
import { runCli } from "../helpers/cli.ts";

const topology = compileTopology({ clouds: [{ name: "aws" }] });
let d: Deployment;
let servers: NatsTopology;
const stray: NatsServer[] = [];
const dirs: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  const dir = tempDir("ferry-tls-");
  d = await planDeployment(topology, dir);
  servers = await startNatsTopology(d, { logDir: join(dir, "logs") });
}, 60_000);

afterAll(async () => {
  await Promise.all(stray.map((s) => s.stop()));
  await servers?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Connects once with exactly these TLS options; resolves to "connected" or the error's message. */
async function tryConnect(url: string, tls: { ca: string } | undefined): Promise<string> {
  try {
    // Authenticated as the CLI, so a refusal here is about TLS alone.
    const nc = await connect({
      servers: url,
      reconnect: false,
      timeout: 3000,
      ...natsAuthOptions(cliOf(d)),
      ...(tls ? { tls } : {}),
    });
    await nc.close();
    return "connected";
  } catch (err) {
    const e = err as Error;
    return `${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ""}`;
  }
}

/** The first thing the server says to a plain TCP client sending CONNECT and PING without TLS. */
function plainTcpAnswer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const s = tcpConnect({ host: "127.0.0.1", port });
    s.setTimeout(5000, () => s.destroy(new Error("no answer within 5 s")));
    s.on("data", (b) => {
      seen += b.toString("latin1");
      if (seen.startsWith("INFO") && seen.includes("\r\n") && !seen.includes("CONNECT_SENT")) {
        s.write('CONNECT {"verbose":false}\r\nPING\r\n');
        seen += "CONNECT_SENT";
      }
    });
    s.on("close", () => resolve(seen));
    s.on("error", reject);
  });
}

describe("TLS on the deployment's NATS links", () => {
  it("keeps the CA and every server key owner-only under <home>/tls", () => {
    expect(statSync(d.tls.dir).mode & 0o777).toBe(0o700);
    for (const name of ["ca-key.pem", "hub-key.pem", "aws-key.pem"])
      expect(statSync(join(d.tls.dir, name)).mode & 0o777, name).toBe(0o600);
    expect(readFileSync(join(d.dataDir, "nats", "hub.conf"), "utf8")).not.toContain("PRIVATE KEY");
  });

  it("lets in a client that trusts the deployment's CA, on the hub and on a leaf", async () => {
    const ca = readFileSync(d.tls.caFile, "utf8");
    expect(await tryConnect(d.hub.url, { ca })).toBe("connected");
    expect(await tryConnect(d.leaves.aws!.url, { ca })).toBe("connected");
    const nc = await connectNats(d.hub.url, "test-tls", cliOf(d));
    expect(nc.info?.tls_required).toBe(true);
    await nc.close();
  });

  it("refuses a client that trusts another CA, or only the system's", async () => {
    const other = readFileSync(ensureCaIn(join(tempDir("ferry-tls-other-"), "tls")).certFile, "utf8");
    for (const url of [d.hub.url, d.leaves.aws!.url]) {
      expect(await tryConnect(url, { ca: other })).toMatch(/certificate/i);
      expect(await tryConnect(url, undefined)).toMatch(/certificate/i);
    }
  });

  it("refuses a plain-TCP client: the server requires TLS and answers CONNECT with an error", async () => {
    const said = await plainTcpAnswer(d.hub.port);
    expect(said).toMatch(/^INFO .*"tls_required":true/);
    expect(said).not.toContain("PONG");
  });

  it("a CLI on a machine without the deployment's folder needs FERRY_TLS_CA, and says so at once", async () => {
    const hub = ["status", "--hub", d.hub.url, "--timeout", "20s"];
    const started = Date.now();
    const without = await runCli(hub, { env: { FERRY_TLS_CA: "" } });
    expect(without.code).not.toBe(0);
    expect(without.stderr).toContain("TLS certificate is not trusted here");
    expect(without.stderr).toContain("FERRY_TLS_CA");
    expect(Date.now() - started).toBeLessThan(15_000);
    // With the CA (and its NATS seed) it gets through TLS: this bare hub then has no deployment published.
    const trusting = await runCli(hub, { env: { FERRY_TLS_CA: d.tls.caFile, FERRY_NATS_HOME: d.dataDir } });
    expect(trusting.stderr).toContain("no deployment published");
  }, 60_000);

  it("a leaf that trusts another deployment's CA does not link to the hub", async () => {
    const dir = await startForeignLeaf("gcp", (conf) => conf);
    await stayUnlinked("gcp", 4000);
    expect(readFileSync(join(dir, "gcp.log"), "utf8")).toMatch(/certificate/i);
    expect((await leafLinks(d.hub, ["aws"])).aws).toBe(true);
  }, 30_000);

  it("the hub refuses a leaf whose own certificate is from another CA, even one that trusts the hub", async () => {
    await startForeignLeaf("azure", (conf, foreign) =>
      conf.replace(`ca_file: "${foreign.tls.caFile}"`, `ca_file: "${d.tls.caFile}"`),
    );
    await stayUnlinked("azure", 4000);
    expect(readFileSync(join(d.dataDir, "logs", "hub.log"), "utf8")).toMatch(/TLS leafnode handshake error/);
  }, 30_000);

  it("a leaf does not link to a hub whose certificate is for another name", async () => {
    const ca = { certFile: d.tls.caFile, keyFile: join(d.tls.dir, "ca-key.pem") };
    issueServerCert(ca, serverCertFiles(d.tls, "hub"), "hub", ["hub.elsewhere.example"]);
    await servers.hub.restart();
    await stayUnlinked("aws", 4000);
    expect(readFileSync(join(d.dataDir, "logs", "aws.log"), "utf8")).toMatch(
      /TLS leafnode handshake error: tls: failed to verify certificate/,
    );
  }, 30_000);
});

/**
 * Starts the `cloud` leaf of a second deployment, with its own CA, dialling this deployment's hub;
 * `edit` may change its config first. Returns its folder (its log is `<cloud>.log` there).
 */
async function startForeignLeaf(cloud: string, edit: (conf: string, foreign: Deployment) => string): Promise<string> {
  const dir = tempDir("ferry-tls-foreign-");
  const other = compileTopology({ clouds: [{ name: cloud }] });
  const ports = await loopbackPorts(other);
  ports.hubNodes = [{ host: "127.0.0.1", port: d.hub.port, monitorPort: d.hub.monitorPort, leafPort: d.hub.leafPort }];
  const foreign = layoutDeployment(other, dir, ports);
  writeServerConfigs(foreign, { role: "cloud", cloud });
  const leaf = foreign.leaves[cloud]!;
  writeFileSync(leaf.configFile, edit(readFileSync(leaf.configFile, "utf8"), foreign));
  stray.push(await NatsServer.start(leaf, { logFile: join(dir, `${cloud}.log`) }));
  return dir;
}

/** Fails if `cloud` shows up in the hub's /leafz at any time within `ms`. */
async function stayUnlinked(cloud: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    expect((await leafLinks(d.hub, [cloud]))[cloud], `${cloud} linked to the hub`).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
  }
}
