/** `tls` of topology.json: the operator's own CA, which then signs every nats-server's certificate. */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import type { ProvidedCa } from "../tls/deployment-tls.ts";

/**
 * Compiles `tls: { "ca": "<CA certificate PEM>", "key": "<its private key PEM>" }` (paths, relative
 * ones to the working directory). Without `tls`, each deployment makes its own CA.
 */
export function compileTlsConfig(raw: unknown): ProvidedCa {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new ConfigError(`tls: expected {"ca": "<CA certificate file>", "key": "<its key file>"}`);
  const r = raw as Record<string, unknown>;
  const unknown = Object.keys(r).filter((k) => k !== "ca" && k !== "key");
  if (unknown.length > 0) throw new ConfigError(`tls.${unknown[0]}: unknown key (expected "ca" and "key")`);
  return { caFile: pemFile("tls.ca", r.ca), keyFile: pemFile("tls.key", r.key) };
}

function pemFile(key: string, v: unknown): string {
  if (typeof v !== "string" || v === "") throw new ConfigError(`${key}: expected the path of a PEM file`);
  const path = resolve(v);
  if (!existsSync(path))
    throw new ConfigError(`${key}: ${path} does not exist: fix the path, or remove "tls" to let ferry make a CA`);
  return path;
}
