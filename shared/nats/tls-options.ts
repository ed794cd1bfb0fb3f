/**
 * The TLS options of every NATS client ferry opens (connectNats, connectReliably). Every nats-server
 * of a deployment requires TLS with a certificate from the deployment's CA; a process trusts the CA of
 * each deployment it has laid out or read (`trustDeploymentCa`, called by layoutDeployment and
 * readDeployment), plus `$FERRY_TLS_CA` for a client that reaches a hub on another machine with no
 * deployment folder (`ferry ingest --hub`). Nothing else: not the system's CAs.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError } from "../errors.ts";

/** Names the CA certificate (PEM) a client with no deployment folder trusts. */
export const TLS_CA_ENV = "FERRY_TLS_CA";

const trusted = new Set<string>();

/** Trusts the CA certificate in `caFile` for every connection this process opens from now on. */
export function trustDeploymentCa(caFile: string): void {
  trusted.add(resolve(caFile));
}

/**
 * `{ tls: { ca } }` with every trusted CA that exists, for a spread into nats.js `connect` options;
 * `{}` when there is none (a server that requires TLS then refuses the client with a certificate
 * error). Read at each connect, so a CA made after the deployment was laid out is found.
 */
export function natsTlsOptions(): { tls?: { ca: string } } {
  const env = process.env[TLS_CA_ENV];
  if (env && !existsSync(env))
    throw new ConfigError(
      `${TLS_CA_ENV}: ${env} does not exist: point it at the deployment's CA certificate (<home>/tls/ca.pem)`,
    );
  const files = [...trusted, ...(env ? [resolve(env)] : [])].filter((f) => existsSync(f));
  if (files.length === 0) return {};
  // One string of concatenated PEM certificates: Node trusts each of them.
  return { tls: { ca: [...new Set(files)].map((f) => readFileSync(f, "utf8")).join("\n") } };
}

/** Node's codes for a server certificate that does not verify: unknown CA, wrong name, expired. */
const CERT_ERRORS = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
]);

/**
 * When `err` (or its cause) says the server's certificate was not trusted, what to do about it:
 * waiting will not help, so a caller fails at once with this instead of retrying.
 */
export function untrustedCertificate(err: unknown): string | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && CERT_ERRORS.has(code))
      return `its TLS certificate is not trusted here (${e.message}): on a machine without the deployment's folder set ${TLS_CA_ENV} to the deployment's CA certificate (<home>/tls/ca.pem)`;
  }
  return undefined;
}
