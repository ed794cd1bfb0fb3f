import { mkdir } from "node:fs/promises";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { toolBinary, toolHint } from "../shared/process/binaries.ts";
import { httpAnswers, ServerStartError } from "../shared/process/server-spec.ts";
import { localStoreEndpoint } from "../shared/stores/local-endpoint.ts";
import { LOCAL_S3_CREDENTIALS } from "../shared/stores/s3/s3-store.ts";
import { ServerProcess } from "./server-process.ts";

/** The region versitygw signs for unless told otherwise; local S3 specs use it. */
export const LOCAL_S3_REGION = "us-east-1";

/**
 * Starts versitygw (S3 on its posix backend: a bucket is a folder under `dataDir`, an object a file)
 * on 127.0.0.1:`port`, waits until it answers, creates the missing `buckets`, and returns it running.
 * Objects persist in `dataDir`, so `restart()` keeps them. It listens nowhere else: no admin port,
 * no web UI, no event or log sinks.
 */
export async function startLocalS3Server(o: {
  port: number;
  dataDir: string;
  logFile?: string;
  buckets: string[];
}): Promise<ServerProcess> {
  await mkdir(o.dataDir, { recursive: true });
  const endpoint = localStoreEndpoint("s3", o.port);
  const server = new ServerProcess({
    label: `versitygw (S3 on 127.0.0.1:${o.port})`,
    binary: toolBinary("versitygw"),
    args: [
      "--access",
      LOCAL_S3_CREDENTIALS.accessKeyId,
      "--secret",
      LOCAL_S3_CREDENTIALS.secretAccessKey,
      "--port",
      `127.0.0.1:${o.port}`,
      "--region",
      LOCAL_S3_REGION,
      "--quiet", // no line per request
      "posix",
      o.dataDir,
    ],
    ports: [o.port],
    // Anonymous requests get 403: it answers, so it is ready.
    ready: httpAnswers(`${endpoint}/`),
    ...(o.logFile ? { logFile: o.logFile } : {}),
    diagnostics: [`data: ${o.dataDir}`],
    missingBinaryHint: toolHint("versitygw"),
  });
  await server.start();
  try {
    await createBuckets(endpoint, o.buckets);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/** Creates each bucket unless this account already has it. */
async function createBuckets(endpoint: string, buckets: string[]): Promise<void> {
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
