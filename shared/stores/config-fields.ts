import { ConfigError } from "../errors.ts";

/**
 * Checks for the fields of a topology.json store entry, shared by the kinds. Each names the key it
 * checks (`clouds[0].store.bucket`) and what would be valid, so every error says what to fix.
 */

/** S3 and GCS share the DNS-style bucket rules. */
export const DNS_BUCKET = {
  pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
  rule: "3-63 lower-case letters, digits, dots and hyphens",
} as const;

/** `v` when it matches `pattern`; else a ConfigError quoting it and `rule`. */
export function named(key: string, v: unknown, name: { pattern: RegExp; rule: string }): string {
  if (typeof v !== "string" || !name.pattern.test(v))
    throw new ConfigError(`${key}: ${JSON.stringify(v)} is not a valid name (${name.rule})`);
  return v;
}

export function nonEmpty(key: string, v: unknown): string {
  if (typeof v !== "string" || v === "")
    throw new ConfigError(`${key}: expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

export function optionalBool(key: string, v: unknown): boolean | undefined {
  if (v !== undefined && typeof v !== "boolean")
    throw new ConfigError(`${key}: expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** An http(s) URL without credentials or query string, trailing slashes removed. */
export function optionalUrl(key: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(String(v));
  } catch {
    throw new ConfigError(`${key}: ${JSON.stringify(v)} is not a URL (e.g. "https://s3.eu-west-1.amazonaws.com")`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(`${key}: expected an http or https URL`);
  if (url.username || url.password || url.search)
    throw new ConfigError(`${key}: the endpoint must not carry credentials or a query string; use the environment`);
  return String(v).replace(/\/+$/, "");
}

/**
 * `local` and `endpoint` of a store reached over the network: `"local": true` makes ferry run the
 * kind's server on loopback and pick its endpoint, so the two exclude each other.
 */
export function localOrEndpoint(
  key: string,
  raw: Record<string, unknown>,
): { local: boolean | undefined; endpoint: string | undefined } {
  const local = optionalBool(`${key}.local`, raw.local);
  const endpoint = optionalUrl(`${key}.endpoint`, raw.endpoint);
  if (local && endpoint)
    throw new ConfigError(
      `${key}: "local": true starts a server on loopback and picks its endpoint; remove "endpoint" or "local"`,
    );
  return { local, endpoint };
}

/** `v` when it is one of `values`; undefined when absent; else a ConfigError listing them. */
export function optionalOneOf<T extends string>(key: string, v: unknown, values: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !(values as readonly string[]).includes(v))
    throw new ConfigError(`${key}: ${JSON.stringify(v)} is not one of ${values.map((x) => `"${x}"`).join(", ")}`);
  return v as T;
}

/** `named` for a field that may be absent. */
export function optionalNamed(key: string, v: unknown, name: { pattern: RegExp; rule: string }): string | undefined {
  return v === undefined ? undefined : named(key, v, name);
}
