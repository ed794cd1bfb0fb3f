import { generateKeyPairSync, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Canary credentials: unique values planted in every secret ferry handles, so a search of what a
 * deployment wrote can tell, by name, which one leaked and where. Each is random per run and long
 * enough that finding it by chance is impossible.
 */
export interface Canaries {
  /** Secret name → the exact text that must never appear (for a PEM key: a line of its body). */
  readonly values: Record<string, string>;
  readonly s3: { accessKeyId: string; secretAccessKey: string };
  readonly azure: { account: string; key: string };
  /** The fs gateway's HMAC secret, as the hex its key file holds. */
  readonly gatewaySecretHex: string;
  /** A GCS service-account key file (outside the deployment's home: a credential file may hold its secret). */
  readonly googleKeyFile: string;
}

const hex = (bytes: number): string => randomBytes(bytes).toString("hex");

/** Fresh canaries; writes the GCS key file into `dir`. */
export function makeCanaries(dir: string): Canaries {
  const s3 = { accessKeyId: `FERRYCANARYID${hex(8).toUpperCase()}`, secretAccessKey: `ferry-canary-s3-${hex(16)}` };
  // Azurite wants a base64 account key; this one reads as its purpose once decoded.
  const azure = { account: "ferrycanary", key: Buffer.from(`ferry-canary-azure-${hex(16)}`).toString("base64") };
  const gatewaySecretHex = hex(32);
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const privateKeyId = `ferrycanarygcskeyid${hex(12)}`;
  const googleKeyFile = join(dir, "gcs-service-account.json");
  writeFileSync(
    googleKeyFile,
    JSON.stringify({
      type: "service_account",
      project_id: "ferry-canary",
      private_key_id: privateKeyId,
      private_key: pem,
      client_email: "ferry-canary@ferry-canary.iam.gserviceaccount.com",
      client_id: "1",
      token_uri: "http://127.0.0.1:9/token",
    }),
    { mode: 0o600 },
  );
  return {
    values: {
      "S3 access key id": s3.accessKeyId,
      "S3 secret access key": s3.secretAccessKey,
      "Azure account key": azure.key,
      "GCS private key": pem.split("\n")[1] ?? pem,
      "GCS private key id": privateKeyId,
      "gateway fs HMAC secret": gatewaySecretHex,
    },
    s3,
    azure,
    gatewaySecretHex,
    googleKeyFile,
  };
}

/** Azure's connection string for the canary account at a local Azurite's blob `endpoint` (…/<account>). */
export function azureConnectionString(c: Canaries, endpoint: string, key = c.azure.key): string {
  return `DefaultEndpointsProtocol=http;AccountName=${c.azure.account};AccountKey=${key};BlobEndpoint=${endpoint};`;
}

/** The environment every ferry process gets: each SDK finds its canary credentials there. */
export function canaryEnv(c: Canaries, azureEndpoint: string): NodeJS.ProcessEnv {
  return {
    AWS_ACCESS_KEY_ID: c.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: c.s3.secretAccessKey,
    AZURE_STORAGE_CONNECTION_STRING: azureConnectionString(c, azureEndpoint),
    GOOGLE_APPLICATION_CREDENTIALS: c.googleKeyFile,
  };
}

/**
 * Credentials derived from the canaries that would open the stores as well: a request's
 * Authorization header (SigV4, Azure SharedKey) or a bearer token (the GCS SDK's self-signed JWT).
 */
const DERIVED: [string, RegExp][] = [
  ["an AWS SigV4 Authorization header", /AWS4-HMAC-SHA256 Credential=/],
  ["an Azure SharedKey Authorization header", /SharedKey ferrycanary:/],
  ["a bearer token", /Bearer eyJ/],
];

/** The names of the canaries (and credentials derived from them) `text` holds: `[]` when it leaks none. */
export function leakedIn(c: Canaries, text: string): string[] {
  return [
    ...Object.entries(c.values)
      .filter(([, v]) => text.includes(v))
      .map(([name]) => name),
    ...DERIVED.filter(([, re]) => re.test(text)).map(([name]) => name),
  ];
}

/** Every place in `texts` (where → text) holding a canary, as `where: names`; `[]` when nothing leaked. */
export function leaksIn(c: Canaries, texts: Iterable<[string, string]>): string[] {
  const found: string[] = [];
  for (const [where, text] of texts) {
    const names = leakedIn(c, text);
    if (names.length > 0) found.push(`${where}: ${names.join(", ")}`);
  }
  return found;
}
