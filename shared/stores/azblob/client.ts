import { DefaultAzureCredential } from "@azure/identity";
import {
  type BlobClientConfig,
  BlobServiceClient,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { ConfigError } from "../../errors.ts";
import type { FailedRequest } from "../store-errors.ts";
import type { AzblobOpenSpec } from "./kind.ts";

/**
 * The storage emulator's well-known development account (Azurite, the old Storage Emulator).
 * These are public values published in the emulator's documentation and accepted only by emulators:
 * not secrets.
 */
export const AZURITE_DEV_ACCOUNT = {
  name: "devstoreaccount1",
  key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
} as const;

/** Azure's container naming rule, checked in topology.json and by the store alike. */
export const AZURE_CONTAINER_NAME = {
  pattern: /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/,
  rule: "3-63 lower-case letters, digits and single hyphens",
} as const;

/**
 * The SDK's own retry is off: its policy has no jitter, sets only the server-side `timeout`
 * parameter (no client deadline) and retries neither 429 nor 502/504. The store retries instead.
 * Checksums are pinned to "Customized" (the per-block Content-MD5 put() sends): Azurite 3.37 stores
 * the SDK's structured-message CRC64 encoding verbatim (1000 bytes put came back as 1039).
 */
const CLIENT_OPTIONS: StoragePipelineOptions & BlobClientConfig = {
  retryOptions: { maxTries: 1 },
  uploadContentChecksumAlgorithm: "Customized",
  downloadContentChecksumAlgorithm: "Customized",
};

/**
 * The SDK client for a spec. `local`: the emulator's development account at `endpoint`. Otherwise
 * AZURE_STORAGE_CONNECTION_STRING when set, else DefaultAzureCredential (environment, workload or
 * managed identity, Azure CLI login...) against `endpoint`.
 */
export function serviceClient(spec: Omit<AzblobOpenSpec, "kind">): BlobServiceClient {
  const at = `azblob store [cloud=${spec.cloud}]`;
  if (spec.endpoint !== undefined && !URL.canParse(spec.endpoint)) {
    throw new ConfigError(`${at}: endpoint ${JSON.stringify(spec.endpoint)} is not a URL`);
  }
  if (spec.local) {
    if (!spec.endpoint)
      throw new ConfigError(
        `${at}: a local store needs the emulator's endpoint (http://127.0.0.1:<port>/${AZURITE_DEV_ACCOUNT.name})`,
      );
    const credential = new StorageSharedKeyCredential(AZURITE_DEV_ACCOUNT.name, AZURITE_DEV_ACCOUNT.key);
    return new BlobServiceClient(spec.endpoint, credential, CLIENT_OPTIONS);
  }
  const connectionString = process.env.AZURE_STORAGE_CONNECTION_STRING;
  if (connectionString) {
    try {
      return BlobServiceClient.fromConnectionString(connectionString, CLIENT_OPTIONS);
    } catch (err) {
      // The SDK's reason names the bad part, never its value; the string itself holds the key.
      const reason = err instanceof Error ? err.message : String(err);
      throw new ConfigError(
        `${at}: AZURE_STORAGE_CONNECTION_STRING is not usable (${reason}). Fix: copy it again from the storage account's access keys`,
      );
    }
  }
  if (!spec.endpoint) {
    throw new ConfigError(
      `${at}: set endpoint (https://<account>.blob.core.windows.net) or AZURE_STORAGE_CONNECTION_STRING`,
    );
  }
  return new BlobServiceClient(spec.endpoint, new DefaultAzureCredential(), CLIENT_OPTIONS);
}

/** What the SDK's error says in the terms storeError decides by; HEAD errors carry the code only in details. */
export function failureOf(err: unknown): FailedRequest {
  const e = (err ?? {}) as {
    statusCode?: unknown;
    code?: unknown;
    details?: { errorCode?: unknown };
    message?: unknown;
  };
  const code =
    typeof e.details?.errorCode === "string" ? e.details.errorCode : typeof e.code === "string" ? e.code : undefined;
  return {
    ...(typeof e.statusCode === "number" ? { status: e.statusCode } : {}),
    ...(code ? { code } : {}),
    // The service appends RequestId and Time lines; the first line says what went wrong.
    ...(typeof e.message === "string" ? { message: e.message.split("\n")[0] } : {}),
  };
}
