/**
 * Secrets never leak: canary values planted in every credential ferry handles (S3 access key id and
 * secret, the Azure account key inside its connection string, a GCS service-account key, the fs
 * gateway's HMAC secret), a real deployment run with them from end to end, then everything it wrote
 * searched for them: files under its home (logs, deployment.json, JetStream's own files) but the
 * gateway's key file, every message of every stream and KV bucket on the hub and each leaf, the
 * client view in KV ferry_deployment, its traces in Jaeger, and what `status`, `status --json`,
 * `dead-letters`, `get` and a failing `ingest` print.
 *
 * The S3 and Azure stores are the local servers, but started by the test with the canary
 * credentials and named by `endpoint` (not `local`): ferry's processes reach them only through the
 * SDKs' own credential chains (environment, connection string), the code paths real clouds take,
 * and a wrong credential would stop the pipeline. GCS is the exception: with a service-account key
 * the SDK trades a signed JWT for a token at oauth2.googleapis.com (a fixed URL), which a machine
 * without the internet cannot reach, so the gcp cloud runs on ferry's own fake-gcs-server while
 * GOOGLE_APPLICATION_CREDENTIALS still names the canary key in every process's environment; the
 * key's own path (a failed token fetch, a damaged key) is in test/stores/secret-errors.test.ts.
 * A fourth cloud on an fs store has the canary HMAC secret: a file uploaded into its staging through
 * its gateway's URLs is fetched from there by the three clouds its replicas go to (3 replicas).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { natsCredentialsDir } from "../../shared/nats/credentials.ts";
import { DEPLOYMENT_BUCKET } from "../../shared/stream-names.ts";
import { type Deployment, readDeployment } from "../../shared/topology/deployment.ts";
import { adminOf } from "../../shared/topology/nats-identities.ts";
import { type Canaries, canaryEnv, leakedIn, leaksIn, makeCanaries } from "../helpers/canaries.ts";
import { type CanaryStores, startCanaryStores } from "../helpers/canary-stores.ts";
import { type CliResult, jsonLines, runCli } from "../helpers/cli.ts";
import { filesUnder, jaegerTraces, streamMessages } from "../helpers/deployment-record.ts";
import { writeRandomFile } from "../helpers/files.ts";

const BUCKETS = { s3: "ferry-canary-aws", gcs: "ferry-canary-gcp", azure: "ferry-canary-azure" };
const CLOUDS = ["aws", "gcp", "azure", "disk"];

let work: string;
let home: string;
let userHome: string;
let canaries: Canaries;
let stores: CanaryStores | undefined;
let env: NodeJS.ProcessEnv;
let deployment: Deployment;
let upStarted = false;
/** What each CLI command printed, by command line. */
const printed = new Map<string, string>();

async function cli(args: string[]): Promise<CliResult> {
  const started = Date.now();
  const r = await runCli(args, { env, timeoutMs: 180_000 });
  printed.set(`ferry ${args.join(" ")}`, `${r.stdout}\n${r.stderr}`);
  process.stderr.write(`secrets test: ferry ${args.join(" ")}: exit ${r.code} in ${Date.now() - started} ms\n`);
  return r;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ferry-secrets-"));
  home = join(work, "home");
  canaries = makeCanaries(work);
  stores = await startCanaryStores(canaries, join(work, "stores"), BUCKETS);
  const topology = join(work, "topology.json");
  writeFileSync(
    topology,
    JSON.stringify({
      clouds: [
        { name: "aws", store: { kind: "s3", bucket: BUCKETS.s3, endpoint: stores.s3 } },
        // ferry's own fake-gcs-server: see the header for why the GCS key is not used here.
        { name: "gcp", store: { kind: "gcs", bucket: BUCKETS.gcs, local: true } },
        { name: "azure", store: { kind: "azblob", container: BUCKETS.azure, endpoint: stores.azure } },
        { name: "disk", store: { kind: "fs" } },
      ],
      replicas: 3,
      chunkSize: 64 * 1024,
      ackWait: "5s",
      maxAttempts: 3,
    }),
  );
  // HOME too: what the CLI keeps for the user (upload journals under ~/.local/state) is searched as well.
  userHome = join(work, "user");
  mkdirSync(userHome);
  env = { ...canaryEnv(canaries, stores.azure), FERRY_HOME: home, FERRY_TOPOLOGY: topology, HOME: userHome };
  // The disk cloud's gateway finds its secret already made, as after an earlier start.
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, "gateway-disk.key"), canaries.gatewaySecretHex, { mode: 0o600 });
  const up = await cli(["up", "--detach", "--port", "0"]);
  expect(up.code, up.stderr).toBe(0);
  upStarted = true;
  deployment = readDeployment(home);
  // The deployment's TLS private keys are secrets too: the CA's and each server's (a line of the key's
  // body: the first line of an EC key is mostly the same header for every key).
  for (const name of ["ca", "hub", ...CLOUDS])
    canaries.values[`TLS private key ${name}`] = readFileSync(join(home, "tls", `${name}-key.pem`), "utf8").split(
      "\n",
    )[2]!;
});

afterAll(async () => {
  if (upStarted) {
    const down = await runCli(["down"], { env });
    expect(down.code, down.stderr).toBe(0);
  }
  await stores?.stop();
  // FERRY_TEST_KEEP=1 keeps the folder (logs, data) to look into a failure.
  if (!process.env.FERRY_TEST_KEEP) rmSync(work, { recursive: true, force: true });
});

/** The deployment's NATS seeds, canaries of their own: outside their 0600 files they must appear nowhere. */
function natsSeeds(): Canaries {
  const dir = natsCredentialsDir(home);
  const seeds = readdirSync(dir).filter((f) => f.endsWith(".nk"));
  expect(seeds.length).toBeGreaterThan(10);
  const values = Object.fromEntries(seeds.map((f) => [`NATS seed ${f}`, readFileSync(join(dir, f), "utf8").trim()]));
  return { ...canaries, values };
}

describe("canary credentials through a whole deployment", () => {
  let fileId: string;

  beforeAll(async () => {
    const input = join(work, "in", "train.bin");
    mkdirSync(join(work, "in"), { recursive: true });
    const sha256 = writeRandomFile(input, 5 * 64 * 1024 + 17);
    const ingest = await cli(["ingest", input, "--cloud", "aws", "--wait", "--max-wait", "1m", "--json"]);
    expect(ingest.code, ingest.stderr).toBe(0);
    const [line] = jsonLines<{ fileId: string; state: string; sha256: string }>(ingest.stdout);
    expect([line?.state, line?.sha256]).toEqual(["complete", sha256]);
    fileId = line!.fileId;
    // Uploads from this machine: with its own store credentials, and through a gateway's URLs.
    for (const [cloud, objects] of [
      ["azure", "credentials"],
      ["gcp", "gateway"],
      ["disk", "gateway"],
    ]) {
      const r = await cli([
        "ingest",
        input,
        "--upload",
        "--cloud",
        cloud!,
        "--objects",
        objects!,
        "--wait",
        "--max-wait",
        "2m",
        "--json",
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(jsonLines<{ state: string }>(r.stdout).map((l) => l.state)).toEqual(["complete"]);
    }
    // Each replica's cloud gives the file back, through its own credentials.
    for (const cloud of ["aws", "gcp", "azure"]) {
      const out = join(work, `out-${cloud}.bin`);
      const get = await cli(["get", fileId, "-o", out, "--from", cloud]);
      expect(get.code, get.stderr).toBe(0);
    }
    // Store calls that fail inside the deployment: objects that are not there (read by the workers,
    // so the failure lands in their logs, the file's state and a dead letter, not in this exit code).
    for (const url of [`s3://${BUCKETS.s3}-missing/x.jsonl`, `gs://${BUCKETS.gcs}/missing.jsonl`]) {
      await cli(["ingest", url, "--wait", "--max-wait", "1m"]);
    }
    for (const args of [["status"], ["status", "--json"], ["status", fileId], ["dead-letters"]]) {
      const r = await cli(args);
      expect(r.code, r.stderr).toBe(0);
    }
  }, 600_000);

  it("leaves no canary in any file under the deployment's home (logs, deployment.json, JetStream's files) or the user's", () => {
    // The credential files themselves: the gateways' secrets, the TLS keys (the CA's, each server's), the NATS seeds.
    const files = filesUnder(
      home,
      (rel) => /^gateway-[^/]+\.key$|^(tls|plan-ca)\/[^/]+-key\.pem$/.test(rel) || rel.startsWith("credentials/nats/"),
    );
    files.push(...filesUnder(userHome, () => false));
    const logs = files.filter(([path]) => path.endsWith(".log"));
    // The search saw the real thing: workers' logs and the stores' data the pipeline wrote.
    expect(logs.some(([, text]) => text.includes(fileId))).toBe(true);
    expect(files.map(([path]) => path)).toContain(join(home, "deployment.json"));
    expect(leaksIn(canaries, files)).toEqual([]);
    expect(leaksIn(natsSeeds(), files)).toEqual([]);
  });

  it("puts no signed URL's query string (its signature) in a log line", () => {
    const logs = filesUnder(home, (rel) => !rel.endsWith(".log"));
    const signed = /X-Amz-Signature|X-Goog-Signature|X-Amz-Credential|[?&](sig|se|sv)=/;
    const lines = logs.flatMap(([path, text]) =>
      text
        .split("\n")
        .filter((l) => signed.test(l))
        .map((l) => `${path}: ${l.slice(0, 300)}`),
    );
    expect(lines).toEqual([]);
  });

  it("leaves no canary in any message of any stream or KV bucket, on the hub and on every leaf", async () => {
    const messages = await streamMessages(deployment.hub.url, "hub", adminOf(deployment));
    for (const cloud of CLOUDS)
      messages.push(...(await streamMessages(deployment.leaves[cloud]!.url, cloud, adminOf(deployment))));
    // The client view is among them, and the chunk events of the file.
    expect(messages.some(([where]) => where.startsWith(`hub stream KV_${DEPLOYMENT_BUCKET} `))).toBe(true);
    expect(messages.filter(([, text]) => text.includes(fileId)).length).toBeGreaterThan(20);
    expect(leaksIn(canaries, messages)).toEqual([]);
    expect(leaksIn(natsSeeds(), messages)).toEqual([]);
  });

  it("leaves no canary in a trace attribute or span log in Jaeger", async () => {
    expect(deployment.jaeger, "Jaeger runs with the deployment (built by ./ferry test)").toBeDefined();
    const traces = await jaegerTraces(deployment.jaeger!.queryUrl);
    expect(traces.some(([, text]) => text.includes(fileId))).toBe(true);
    expect(leaksIn(canaries, traces)).toEqual([]);
    expect(leaksIn(natsSeeds(), traces)).toEqual([]);
  });

  it("prints no canary in status, status --json, dead-letters, get, or a failing ingest", () => {
    expect([...printed.keys()].length).toBeGreaterThanOrEqual(10);
    expect(leaksIn(canaries, printed)).toEqual([]);
    expect(leaksIn(natsSeeds(), printed)).toEqual([]);
  });

  it("writes credential names, never values, into every host's ferry plan bundle", async () => {
    for (const role of [["--role", "hub"], ...CLOUDS.map((c) => ["--role", "cloud", "--cloud", c])]) {
      const out = join(work, "plan", role.at(-1)!);
      const r = await cli(["plan", ...role, "--out", out]);
      expect(r.code, r.stderr).toBe(0);
      const bundle = filesUnder(out, () => false);
      expect(leaksIn(canaries, bundle)).toEqual([]);
      if (role[1] === "cloud" && role[3] !== "disk") {
        const creds = readFileSync(join(out, "credentials.env"), "utf8");
        expect(creds.split("\n").filter((l) => l !== "" && !l.startsWith("#") && !/^#?[A-Z_]+=$/.test(l))).toEqual([]);
      }
    }
  });

  it("is a search that finds a leak: each canary is found where it is", () => {
    const text = Object.values(canaries.values).join(" ");
    expect(leakedIn(canaries, text)).toEqual(Object.keys(canaries.values));
    expect(leakedIn(canaries, readFileSync(join(home, "gateway-disk.key"), "utf8"))).toEqual([
      "gateway fs HMAC secret",
    ]);
    expect(leakedIn(canaries, readFileSync(join(home, "tls", "hub-key.pem"), "utf8"))).toEqual(["TLS private key hub"]);
  });
});
