/**
 * Host bundles from `ferry plan`: a hub bundle's nats-server config starts a real nats-server, every
 * unit runs the command its process needs, and no credential value lands in the folder.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { healthz } from "../../shared/nats/monitoring.ts";
import { readDeployment } from "../../shared/topology/deployment.ts";
import { NatsServer } from "../../supervisor/nats-server.ts";
import { runCli } from "../helpers/cli.ts";

const SECRET = "s3cr3t-value-that-must-never-be-written";
let dir: string;
let topology: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ferry-bundle-"));
  topology = join(dir, "topology.json");
  writeFileSync(
    topology,
    JSON.stringify({
      hub: { nodes: 3, addresses: ["hub-a.example", "hub-b.example", "hub-c.example"] },
      clouds: [
        { name: "aws", store: { kind: "s3", bucket: "acme-aws", region: "eu-west-1" }, workers: { verify: 2 } },
        { name: "gcp", store: { kind: "gcs", bucket: "acme-gcp", projectId: "acme" } },
      ],
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every file under `root`, relative. */
function filesUnder(root: string, rel = ""): string[] {
  return readdirSync(join(root, rel)).flatMap((n) => {
    const p = join(rel, n);
    return statSync(join(root, p)).isDirectory() ? filesUnder(root, p) : [p];
  });
}

/** The planner's CA: every bundle of this file is signed by it. */
const caDir = (): string => join(dir, "plan-ca");

const execStart = (unit: string): string => /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? "";

describe("ferry plan", () => {
  it("explains itself with --help", async () => {
    const r = await runCli(["plan", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--role");
    expect(r.stdout).toContain("credentials.env");
  });

  it("writes a cloud host's bundle: leaf config, a unit per process, credential names only", async () => {
    const out = join(dir, "aws");
    const env = { AWS_SECRET_ACCESS_KEY: SECRET, AWS_ACCESS_KEY_ID: SECRET };
    const r = await runCli(
      ["plan", "--role", "cloud", "--cloud", "aws", "--out", out, "--topology", topology, "--ca-dir", caDir()],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    const all = filesUnder(out).sort();
    // The NATS seeds of the cloud's identities (and its leaf link's include), owner-only.
    const seeds = all.filter((f) => f.startsWith("credentials/nats/"));
    expect(seeds).toContain("credentials/nats/verify-aws.nk");
    expect(seeds).toContain("credentials/nats/leaf-aws.nk");
    expect(seeds).not.toContain("credentials/nats/orchestrator.nk");
    for (const f of seeds) expect(statSync(join(out, f)).mode & 0o777, f).toBe(0o600);
    const files = all.filter((f) => !seeds.includes(f));
    expect(files).toEqual(
      [
        "credentials.env",
        "deployment.json",
        "nats/aws.conf",
        // The CA's certificate and the leaf's own certificate and key; never the CA's key.
        "tls/ca.pem",
        "tls/aws.pem",
        "tls/aws-key.pem",
        ...["aws", "ingest-aws", "process-aws", "place-aws", "verify-aws", "verify-aws-2", "gateway-aws"].map(
          (p) => `systemd/ferry-${p}.service`,
        ),
      ].sort(),
    );
    for (const f of files) expect(readFileSync(join(out, f), "utf8"), f).not.toContain(SECRET);
    const creds = readFileSync(join(out, "credentials.env"), "utf8");
    // Only its own cloud's: other clouds' objects are reached through their gateways.
    expect(creds).toContain("#AWS_SECRET_ACCESS_KEY=\n");
    expect(creds).not.toContain("GOOGLE_APPLICATION_CREDENTIALS");
    const conf = readFileSync(join(out, "nats/aws.conf"), "utf8");
    expect(conf).toContain(
      `"nats-leaf://hub-a.example:7422", "nats-leaf://hub-b.example:7422", "nats-leaf://hub-c.example:7422"`,
    );
    // The leaf dials only those: not a hub node's listen address it might hear of.
    expect(conf).toContain("ignore_discovered_servers: true");
    // Its remote shows the leaf's own certificate and trusts only the CA's.
    expect(conf).toMatch(
      new RegExp(`tls: \\{ cert_file: "${out}/tls/aws\\.pem", .*ca_file: "${out}/tls/ca\\.pem" \\}`),
    );
    expect(statSync(join(out, "tls/aws-key.pem")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(out, "tls/ca.pem"), "utf8")).toBe(readFileSync(join(caDir(), "ca.pem"), "utf8"));
    const unit = (p: string) => readFileSync(join(out, "systemd", `ferry-${p}.service`), "utf8");
    expect(execStart(unit("aws"))).toMatch(new RegExp(`nats-server -c ${out}/nats/aws\\.conf$`));
    expect(execStart(unit("verify-aws-2"))).toMatch(new RegExp(`stages/main\\.ts verify aws ${out}$`));
    expect(execStart(unit("gateway-aws"))).toMatch(new RegExp(`gateway/main\\.ts aws ${out}$`));
    expect(unit("place-aws")).toContain(`EnvironmentFile=-${out}/credentials.env`);
  });

  it("writes a hub node's bundle for its own host: all interfaces, routes to the peers' addresses, no gossip", async () => {
    const out = join(dir, "hub-2");
    const r = await runCli([
      "plan",
      "--role",
      "hub",
      "--node",
      "2",
      "--out",
      out,
      "--topology",
      topology,
      "--ca-dir",
      caDir(),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const conf = readFileSync(join(out, "nats/hub-2.conf"), "utf8");
    expect(conf).toContain(`listen: "0.0.0.0:7422"`);
    // Monitoring has no authentication: it stays on the host's loopback.
    expect(conf).toContain(`http: "127.0.0.1:8222"`);
    expect(conf).toContain(`"nats-route://hub-a.example:6222"`);
    // Its certificate names the address the clouds and its peers dial it by.
    const san = execFileSync("openssl", [
      "x509",
      "-in",
      join(out, "tls/hub-2.pem"),
      "-noout",
      "-ext",
      "subjectAltName",
    ]);
    expect(san.toString()).toContain("DNS:hub-b.example");
    // Leaves and clients dial only hub.addresses: a node never tells them its interface addresses.
    expect(conf.match(/no_advertise: true/g)).toHaveLength(2);
    // The hub's processes open no store, so its bundle names no store credential.
    const creds = readFileSync(join(out, "credentials.env"), "utf8");
    expect(creds).toContain("open no store");
    expect(creds).not.toMatch(/^#[A-Z_]+=$/m);
  });

  it("writes a hub node's bundle whose nats-server config starts", { timeout: 60_000 }, async () => {
    const out = join(dir, "hub");
    const r = await runCli([
      "plan",
      "--loopback",
      "--role",
      "hub",
      "--hub-nodes",
      "1",
      "--out",
      out,
      "--topology",
      topology,
      "--ca-dir",
      caDir(),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const units = filesUnder(join(out, "systemd")).sort();
    expect(units).toEqual([
      "ferry-dashboard.service",
      "ferry-hub.service",
      "ferry-jaeger.service",
      "ferry-orchestrator.service",
    ]);
    expect(execStart(readFileSync(join(out, "systemd/ferry-orchestrator.service"), "utf8"))).toMatch(
      new RegExp(`orchestrator/main\\.ts ${out}$`),
    );
    const d = readDeployment(out);
    const server = await NatsServer.start(d.hub, { logFile: join(out, "hub.log") });
    try {
      expect(await healthz(d.hub.monitorPort, AbortSignal.timeout(2000))).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
