import { toolBinary, toolHint } from "../shared/process/binaries.ts";
import { httpAnswers, ServerStartError } from "../shared/process/server-spec.ts";
import { LOCAL_GCS_PROJECT_ID } from "../shared/stores/gcs/gcs-store.ts";
import { localStoreEndpoint } from "../shared/stores/local-endpoint.ts";
import { ServerProcess } from "./server-process.ts";

export interface LocalGcsServerOptions {
  port: number;
  /** Where fake-gcs-server keeps buckets and objects (one folder per bucket), so a restart finds them. */
  dataDir: string;
  /** File the server's output is appended to; without it, it is discarded. */
  logFile?: string;
  /** Buckets to create when missing. */
  buckets: string[];
}

/**
 * Starts fake-gcs-server on 127.0.0.1:`port` with the filesystem backend under `dataDir`, waits until
 * it serves the JSON API, and creates the buckets that are missing. Plain HTTP on one port: its gRPC
 * API is served on the same listener, and only over HTTP/2, which the plain-HTTP listener does not speak.
 */
export async function startLocalGcsServer(o: LocalGcsServerOptions): Promise<ServerProcess> {
  const endpoint = localStoreEndpoint("gcs", o.port);
  const server = new ServerProcess({
    label: `fake-gcs-server (port ${o.port})`,
    binary: toolBinary("fake-gcs-server"),
    // -external-url: the upload session URLs it hands out must point at this loopback address.
    // Empty pub/sub settings: it publishes object events nowhere, whatever the environment says.
    args: [
      "-scheme",
      "http",
      "-host",
      "127.0.0.1",
      "-port",
      String(o.port),
      "-backend",
      "filesystem",
      "-filesystem-root",
      o.dataDir,
      "-external-url",
      endpoint,
      "-event.pubsub-project-id",
      "",
      "-event.pubsub-topic",
      "",
    ],
    ports: [o.port],
    ready: httpAnswers(`${endpoint}/storage/v1/b`, 200),
    ...(o.logFile ? { logFile: o.logFile } : {}),
    diagnostics: [`data: ${o.dataDir}`],
    missingBinaryHint: toolHint("fake-gcs-server"),
  });
  await server.start();
  try {
    for (const bucket of o.buckets) await createBucket(endpoint, bucket);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

/** Creates `bucket`; one that already exists (409) is fine. */
async function createBucket(endpoint: string, bucket: string): Promise<void> {
  const res = await fetch(`${endpoint}/storage/v1/b?project=${LOCAL_GCS_PROJECT_ID}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: bucket }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 200 && res.status !== 409) {
    throw new ServerStartError(
      `fake-gcs-server at ${endpoint} refused to create bucket ${bucket}: ${res.status} ${text.trim().slice(0, 300)}`,
    );
  }
}
