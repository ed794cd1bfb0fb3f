import { toolBinary, toolHint } from "../../process/binaries.ts";
import { httpAnswers, ServerStartError } from "../../process/server-spec.ts";
import type { LocalStoreServer } from "../store-kind.ts";
import type { GcsStoreConfig } from "./kind.ts";

/**
 * What the local emulator gets instead of credentials. fake-gcs-server checks none, so the SDK is
 * told to send none; this project id is a public development value, not a secret.
 */
export const LOCAL_GCS_PROJECT_ID = "ferry-local";

/** Where clients reach the local GCS server on 127.0.0.1:`port`. */
export function localGcsEndpoint(port: number): string {
  return `http://127.0.0.1:${port}`;
}

/**
 * fake-gcs-server on 127.0.0.1:`port` with the filesystem backend under `dataDir` (one folder per
 * bucket), so a restart finds every object. Plain HTTP on one port: its gRPC API is served on the
 * same listener, and only over HTTP/2, which the plain-HTTP listener does not speak.
 */
export const fakeGcsServer: LocalStoreServer<GcsStoreConfig> = {
  runsFor: (config) => config.local === true,
  buckets: (config) => [config.bucket],
  endpoint: localGcsEndpoint,
  async process(options) {
    const endpoint = localGcsEndpoint(options.port);
    return {
      label: `fake-gcs-server (port ${options.port})`,
      binary: toolBinary("fake-gcs-server"),
      // -external-url: the upload session URLs it hands out must point at this loopback address.
      // Empty pub/sub settings: it publishes object events nowhere, whatever the environment says.
      args: [
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        String(options.port),
        "-backend",
        "filesystem",
        "-filesystem-root",
        options.dataDir,
        "-external-url",
        endpoint,
        // Signed URLs name 127.0.0.1 as their host: the emulator serves `/<bucket>/<object>` (GET and
        // PUT, the XML API's paths) only for requests to its public host.
        "-public-host",
        "127.0.0.1",
        "-event.pubsub-project-id",
        "",
        "-event.pubsub-topic",
        "",
        // No line per request unless asked: its access log writes each signed URL whole, signature included.
        "-log-level",
        options.logRequests ? "info" : "warn",
      ],
      ports: [options.port],
      ready: httpAnswers(`${endpoint}/storage/v1/b`, 200),
      ...(options.logFile ? { logFile: options.logFile } : {}),
      diagnostics: [`data: ${options.dataDir}`],
      missingBinaryHint: toolHint("fake-gcs-server"),
    };
  },
  async createBuckets(endpoint, buckets) {
    for (const bucket of buckets) await createBucket(endpoint, bucket);
  },
  losesWritesOnKill: false,
};

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
