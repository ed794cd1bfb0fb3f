import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { httpAnswers, ServerStartError } from "../../process/server-spec.ts";
import { REPO_ROOT } from "../../repo-root.ts";
import { redact } from "../store-errors.ts";
import type { LocalStoreServer } from "../store-kind.ts";
import { AZURE_CONTAINER_NAME, AZURITE_DEV_ACCOUNT } from "./client.ts";
import type { AzblobStoreConfig } from "./kind.ts";

/** Azurite's blob service, from the project's own node_modules whatever the current directory. */
const AZURITE_BLOB = join(REPO_ROOT, "node_modules/.bin/azurite-blob");

/** Where clients reach the local Azure Blob server on 127.0.0.1:`port`. Azurite is path-style: the development account is the first path segment. */
export function localAzblobEndpoint(port: number): string {
  return `http://127.0.0.1:${port}/${AZURITE_DEV_ACCOUNT.name}`;
}

/**
 * Azurite's blob service on 127.0.0.1:`port`, keeping its data under `dataDir` (so a restart finds
 * every object again). No telemetry; `--skipApiVersionCheck` because the SDK sends API versions
 * newer than Azurite knows.
 */
export const azurite: LocalStoreServer<AzblobStoreConfig> = {
  runsFor: (config) => config.local === true,
  buckets: (config) => [config.container],
  endpoint: localAzblobEndpoint,
  async process(options) {
    if (!existsSync(AZURITE_BLOB)) {
      throw new ServerStartError(`azurite-blob: ${AZURITE_BLOB} is missing. Fix: run npm ci in the repository root`);
    }
    mkdirSync(options.dataDir, { recursive: true });
    return {
      label: `azurite-blob (127.0.0.1:${options.port})`,
      binary: process.execPath,
      args: [
        AZURITE_BLOB,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        String(options.port),
        "--location",
        options.dataDir,
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
      ],
      ports: [options.port],
      // An unsigned request is refused (403) only once the service is up.
      ready: httpAnswers(`${localAzblobEndpoint(options.port)}?comp=list`),
      readyTimeoutMs: 30_000,
      ...(options.logFile ? { logFile: options.logFile } : {}),
      diagnostics: [`data: ${options.dataDir}`],
    };
  },
  createBuckets: createContainers,
  // Azurite writes its metadata every 5 s: an object acknowledged just before a SIGKILL can be lost.
  losesWritesOnKill: true,
};

async function createContainers(endpoint: string, names: readonly string[]): Promise<void> {
  const service = new BlobServiceClient(
    endpoint,
    new StorageSharedKeyCredential(AZURITE_DEV_ACCOUNT.name, AZURITE_DEV_ACCOUNT.key),
  );
  for (const name of names) {
    try {
      await service.getContainerClient(name).createIfNotExists();
    } catch (err) {
      const reason = redact(err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err));
      throw new ServerStartError(
        `azurite-blob: could not create container ${JSON.stringify(name)} (${reason}). Fix: use ${AZURE_CONTAINER_NAME.rule}`,
        { cause: err },
      );
    }
  }
}
