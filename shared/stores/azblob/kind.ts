import { ConfigError } from "../../errors.ts";
import { azblobObjectReader } from "../../sources/azblob-object.ts";
import { localOrEndpoint, named, optionalNamed } from "../config-fields.ts";
import { describeRemote, localServerFields, type StoreKindWithLocalServer } from "../store-kind.ts";
import { AzblobStore } from "./azblob-store.ts";
import { AZURE_CONTAINER_NAME } from "./client.ts";
import { azurite } from "./local-server.ts";

/** Azure's rule for an encryption scope's name. */
export const AZURE_ENCRYPTION_SCOPE = {
  pattern: /^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$/,
  rule: "3-63 lower-case letters, digits and single hyphens between them",
} as const;

/** An Azure Blob store as topology.json gives it. */
export interface AzblobStoreConfig {
  kind: "azblob";
  container: string;
  /** The account's encryption scope every blob ferry writes goes into; absent: the container's default. */
  encryptionScope?: string;
  endpoint?: string;
  local?: boolean;
}

/**
 * An Azure Blob container. `endpoint` is the account's blob URL (https://<account>.blob.core.windows.net);
 * credentials from AZURE_STORAGE_CONNECTION_STRING, else DefaultAzureCredential.
 */
export interface AzblobOpenSpec {
  cloud: string;
  kind: "azblob";
  container: string;
  encryptionScope?: string;
  endpoint?: string;
  local?: boolean;
}

/** Azure Blob Storage through @azure/storage-blob; locally, Azurite. */
export const azblobKind: StoreKindWithLocalServer<"azblob", AzblobStoreConfig, AzblobOpenSpec> = {
  name: "azblob",
  credentialEnv: ["AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"],
  fields: ["kind", "container", "endpoint", "local", "encryptionScope"],
  example: { kind: "azblob", container: "ferry-azure", local: true },
  parseConfig(key, raw) {
    const { local, endpoint } = localOrEndpoint(key, raw);
    if (!local && !endpoint) {
      throw new ConfigError(
        `${key}.endpoint: an Azure store needs its account's blob endpoint, e.g. "https://<account>.blob.core.windows.net" (or "local": true)`,
      );
    }
    const encryptionScope = optionalNamed(`${key}.encryptionScope`, raw.encryptionScope, AZURE_ENCRYPTION_SCOPE);
    return {
      kind: "azblob",
      container: named(`${key}.container`, raw.container, AZURE_CONTAINER_NAME),
      ...(endpoint ? { endpoint } : {}),
      ...(local ? { local } : {}),
      ...(encryptionScope ? { encryptionScope } : {}),
    };
  },
  openSpec: (cloud, config, placement) => ({ cloud, ...config, ...localServerFields(azurite, placement) }),
  open: (spec) => new AzblobStore(spec),
  describe: (spec) => describeRemote("azblob", `container ${spec.container}`, spec),
  onThisMachine: (config) => config.local === true,
  localServer: azurite,
  objectUrls: { scheme: "az", reader: azblobObjectReader },
};
