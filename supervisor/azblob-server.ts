import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { httpAnswers, ServerStartError } from "../shared/process/server-spec.ts";
import { REPO_ROOT } from "../shared/repo-root.ts";
import { AZURITE_DEV_ACCOUNT } from "../shared/stores/azblob/azblob-store.ts";
import { localStoreEndpoint } from "../shared/stores/local-endpoint.ts";
import { redact } from "../shared/stores/store-errors.ts";
import { ServerProcess } from "./server-process.ts";

/** Azurite's blob service, from the project's own node_modules whatever the current directory. */
const AZURITE_BLOB = join(REPO_ROOT, "node_modules/.bin/azurite-blob");

/**
 * Starts Azurite's blob service on 127.0.0.1:`port`, keeping its data under `dataDir` (so restart()
 * finds every object again), and creates the containers in `buckets` that are missing.
 * No telemetry; `--skipApiVersionCheck` because the SDK sends API versions newer than Azurite knows.
 */
export async function startLocalAzblobServer(o: {
  port: number;
  dataDir: string;
  logFile?: string;
  buckets: string[];
}): Promise<ServerProcess> {
  if (!existsSync(AZURITE_BLOB)) {
    throw new ServerStartError(`azurite-blob: ${AZURITE_BLOB} is missing. Fix: run npm ci in the repository root`);
  }
  mkdirSync(o.dataDir, { recursive: true });
  const endpoint = localStoreEndpoint("azblob", o.port);
  const server = new ServerProcess({
    label: `azurite-blob (127.0.0.1:${o.port})`,
    binary: process.execPath,
    args: [
      AZURITE_BLOB,
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      String(o.port),
      "--location",
      o.dataDir,
      "--disableTelemetry",
      "--skipApiVersionCheck",
      "--loose",
    ],
    ports: [o.port],
    // An unsigned request is refused (403) only once the service is up.
    ready: httpAnswers(`${endpoint}?comp=list`),
    readyTimeoutMs: 30_000,
    ...(o.logFile ? { logFile: o.logFile } : {}),
    diagnostics: [`data: ${o.dataDir}`],
  });
  await server.start();
  try {
    await createContainers(endpoint, o.buckets);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

async function createContainers(endpoint: string, names: string[]): Promise<void> {
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
        `azurite-blob: could not create container ${JSON.stringify(name)} (${reason}). Fix: use 3-63 lowercase letters, digits and single hyphens`,
        { cause: err },
      );
    }
  }
}
