import { mkdir } from "node:fs/promises";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { toolBinary, toolHint } from "../../process/binaries.ts";
import { httpAnswers, ServerStartError } from "../../process/server-spec.ts";
import type { LocalStoreServer } from "../store-kind.ts";
import type { S3StoreConfig } from "./kind.ts";

/**
 * What the S3 server ferry starts on loopback (`local: true`) accepts. These are public development
 * values, written here and passed on the emulator's command line; they are not secrets and open
 * nothing but that local server.
 */
export const LOCAL_S3_CREDENTIALS = {
  accessKeyId: "ferry-local-dev",
  secretAccessKey: "ferry-local-dev-secret",
} as const;

/** The region versitygw signs for; it is also a store entry's default region, so a local entry needs none. */
export const LOCAL_S3_REGION = "us-east-1";

/** Where clients reach the local S3 server on 127.0.0.1:`port`. */
export function localS3Endpoint(port: number): string {
  return `http://127.0.0.1:${port}`;
}

/**
 * versitygw: S3 on its posix backend (a bucket is a folder under `dataDir`, an object a file), on
 * 127.0.0.1:`port`. Objects persist in `dataDir`, so a restart keeps them. It listens nowhere else:
 * no admin port, no web UI, no event or log sinks.
 */
export const versitygw: LocalStoreServer<S3StoreConfig> = {
  runsFor: (config) => config.local === true,
  buckets: (config) => [config.bucket],
  endpoint: localS3Endpoint,
  async process(options) {
    await mkdir(options.dataDir, { recursive: true });
    return {
      label: `versitygw (S3 on 127.0.0.1:${options.port})`,
      binary: toolBinary("versitygw"),
      args: [
        "--access",
        LOCAL_S3_CREDENTIALS.accessKeyId,
        "--secret",
        LOCAL_S3_CREDENTIALS.secretAccessKey,
        "--port",
        `127.0.0.1:${options.port}`,
        "--region",
        LOCAL_S3_REGION,
        "--quiet", // no line per request
        "posix",
        options.dataDir,
      ],
      ports: [options.port],
      // Anonymous requests get 403: it answers, so it is ready.
      ready: httpAnswers(`${localS3Endpoint(options.port)}/`),
      ...(options.logFile ? { logFile: options.logFile } : {}),
      diagnostics: [`data: ${options.dataDir}`],
      missingBinaryHint: toolHint("versitygw"),
    };
  },
  createBuckets,
  losesWritesOnKill: false,
};

/** Creates each bucket unless this account already has it. */
async function createBuckets(endpoint: string, buckets: readonly string[]): Promise<void> {
  const client = new S3Client({
    endpoint,
    region: LOCAL_S3_REGION,
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
    maxAttempts: 3,
  });
  try {
    for (const bucket of buckets) {
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (err) {
        const name = (err as Error).name;
        if (name === "BucketAlreadyOwnedByYou") continue;
        throw new ServerStartError(
          `versitygw at ${endpoint}: could not create bucket "${bucket}" (${name}: ${(err as Error).message})`,
          { cause: err },
        );
      }
    }
  } finally {
    client.destroy();
  }
}
