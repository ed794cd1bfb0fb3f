import { ConfigError } from "../errors.ts";
import { findStoreKind, type StoreConfig, type StoreOpenSpec, storeKindList, storeKindOf } from "../stores/registry.ts";
import type { CloudSpec } from "./config.ts";

/** A cloud's store as configured in topology.json, validated; endpoints of local servers are filled in later by the plan. */
export type StoreSpec = StoreConfig;

/** Keys that would put a credential in the config file; credentials come from the environment only. */
const CREDENTIAL_KEYS = [
  "accessKeyId",
  "secretAccessKey",
  "sessionToken",
  "credentials",
  "accountKey",
  "connectionString",
  "sasToken",
  "keyFilename",
  "password",
  "secret",
];

/**
 * Validates one cloud's `store` entry: its kind, no credentials, no unknown field, then the kind's
 * own checks (shared/stores/<kind>/kind.ts). Every error names the key and the fix.
 */
export function compileStore(key: string, raw: Record<string, unknown>): StoreSpec {
  const kind = findStoreKind(raw.kind);
  if (!kind) {
    throw new ConfigError(`${key}.kind: ${JSON.stringify(raw.kind)} is not supported (use ${storeKindList()})`);
  }
  for (const k of Object.keys(raw)) {
    if (CREDENTIAL_KEYS.includes(k)) {
      throw new ConfigError(
        `${key}.${k}: credentials do not go in topology.json; the ${kind.name} SDK reads them from the environment (see README, "Real clouds")`,
      );
    }
    if (!kind.fields.includes(k))
      throw new ConfigError(
        `${key}.${k}: unknown field for a "${kind.name}" store (fields: ${kind.fields.join(", ")})`,
      );
  }
  return kind.parseConfig(key, raw);
}

/** How workers open a cloud's store; a local server's endpoint is on loopback at `localPort`. */
export function storeOpenSpec(c: CloudSpec, dir: string, localPort: number | undefined): StoreOpenSpec {
  return storeKindOf(c.store).openSpec(c.name, c.store, { dataDir: dir, localPort });
}
