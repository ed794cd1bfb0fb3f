/**
 * A store call that fails says what failed and how to fix it, and never carries the credential it
 * was made with: refused credentials (a wrong secret, an unknown access key id, a wrong account key,
 * a damaged key file), a wrong endpoint (nothing listening), a connection string that does not parse.
 * Each credential is a canary that contains the real one, so a message quoting it is caught.
 * Real servers: the local S3, GCS and Azure servers, started with the canary credentials.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeError, StoreAccessError, StoreUnavailableError } from "../../shared/errors.ts";
import { openStore, type StoreOpenSpec } from "../../shared/stores/open-store.ts";
import { freePort } from "../../supervisor/ports.ts";
import { azureConnectionString, type Canaries, canaryEnv, leakedIn, makeCanaries } from "../helpers/canaries.ts";
import { type CanaryStores, startCanaryStores } from "../helpers/canary-stores.ts";

const BUCKETS = { s3: "ferry-canary-errs", gcs: "ferry-canary-errs", azure: "ferry-canary-errs" };

let work: string;
let canaries: Canaries;
let stores: CanaryStores | undefined;
/** A loopback URL where nothing listens. */
let deadEndpoint: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ferry-secret-errors-"));
  canaries = makeCanaries(work);
  stores = await startCanaryStores(canaries, join(work, "stores"), BUCKETS);
  deadEndpoint = `http://127.0.0.1:${await freePort()}`;
});

afterAll(async () => {
  await stores?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** What a failed `head` shows a user (the error's class, message and one-line description), with `vars` as the environment. */
async function failure(spec: StoreOpenSpec, vars: NodeJS.ProcessEnv): Promise<{ error: unknown; text: string }> {
  const saved = { ...process.env };
  Object.assign(process.env, canaryEnv(canaries, stores!.azure), vars);
  try {
    await openStore(spec).head("chunks/f/0-00");
  } catch (error) {
    return { error, text: `${describeError(error)}\n${(error as Error).stack ?? ""}` };
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  throw new Error(`head on ${spec.kind} did not fail`);
}

const s3 = (endpoint: string): StoreOpenSpec => ({
  cloud: "aws",
  kind: "s3",
  bucket: BUCKETS.s3,
  region: "us-east-1",
  endpoint,
  forcePathStyle: true,
});
const gcs = (endpoint: string): StoreOpenSpec => ({
  cloud: "gcp",
  kind: "gcs",
  bucket: BUCKETS.gcs,
  endpoint,
  projectId: "ferry-canary",
});
const azure = (endpoint: string): StoreOpenSpec => ({
  cloud: "azure",
  kind: "azblob",
  container: BUCKETS.azure,
  endpoint,
});

describe("a failing store call's error names no credential", () => {
  it("S3 refusing a wrong secret access key", async () => {
    const f = await failure(s3(stores!.s3), { AWS_SECRET_ACCESS_KEY: `${canaries.s3.secretAccessKey}-wrong` });
    expect(f.error).toBeInstanceOf(StoreAccessError);
    expect(leakedIn(canaries, f.text), f.text).toEqual([]);
  });

  it("S3 refusing an unknown access key id", async () => {
    const f = await failure(s3(stores!.s3), { AWS_ACCESS_KEY_ID: `${canaries.s3.accessKeyId}X` });
    expect(f.error).toBeInstanceOf(StoreAccessError);
    expect(leakedIn(canaries, f.text), f.text).toEqual([]);
  });

  it("S3 at an endpoint where nothing listens", async () => {
    const f = await failure(s3(deadEndpoint), {});
    expect(f.error).toBeInstanceOf(StoreUnavailableError);
    expect(leakedIn(canaries, f.text), f.text).toEqual([]);
  });

  it("Azure refusing a wrong account key", async () => {
    const wrong = azureConnectionString(canaries, stores!.azure, `${canaries.azure.key}AQID`);
    const f = await failure(azure(stores!.azure), { AZURE_STORAGE_CONNECTION_STRING: wrong });
    expect(f.error).toBeInstanceOf(StoreAccessError);
    expect(leakedIn(canaries, f.text), f.text).toEqual([]);
  });

  it("Azure at an endpoint where nothing listens", async () => {
    const dead = `${deadEndpoint}/${canaries.azure.account}`;
    const f = await failure(azure(dead), { AZURE_STORAGE_CONNECTION_STRING: azureConnectionString(canaries, dead) });
    expect(f.error).toBeInstanceOf(StoreUnavailableError);
    expect(leakedIn(canaries, f.text), f.text).toEqual([]);
  });

  it("Azure given a connection string that does not parse", async () => {
    const broken = `AccountName=${canaries.azure.account};AccountKey=${canaries.azure.key};BlobEndpoint=not a url`;
    const f = await failure(azure(stores!.azure), { AZURE_STORAGE_CONNECTION_STRING: broken });
    expect(f.text).toMatch(/AZURE_STORAGE_CONNECTION_STRING/);
    expect(leakedIn(canaries, f.text), f.text).toEqual([]);
  });

  it("GCS at an endpoint where nothing listens", async () => {
    const f = await failure(gcs(deadEndpoint), {});
    expect(f.error).toBeInstanceOf(StoreUnavailableError);
    expect(leakedIn(canaries, f.text), f.text).toEqual([]);
  });

  it("GCS with a key file whose private key is damaged", async () => {
    const keyFile = join(work, "damaged-key.json");
    writeFileSync(
      keyFile,
      JSON.stringify({
        type: "service_account",
        private_key_id: canaries.values["GCS private key id"],
        private_key: `-----BEGIN PRIVATE KEY-----\n${canaries.values["GCS private key"]}\n-----END PRIVATE KEY-----\n`,
        client_email: "ferry-canary@ferry-canary.iam.gserviceaccount.com",
      }),
      { mode: 0o600 },
    );
    const f = await failure(gcs(stores!.gcs), { GOOGLE_APPLICATION_CREDENTIALS: keyFile });
    expect(f.error, f.text).toBeInstanceOf(StoreAccessError);
    expect(leakedIn(canaries, f.text), f.text).toEqual([]);
  });
});
