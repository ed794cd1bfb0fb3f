/**
 * The TLS parts of the nats-server configs (nats-config.ts calls these). Every listener requires TLS
 * with the server's certificate from the deployment's CA: clients (`tls {}`), the hub's leaf listener
 * (`leafnodes { tls {} }`) and a clustered hub's routes (`cluster { tls {} }`); on leaf links and
 * routes both ends show a certificate and check the other's. A leaf's remote trusts only the
 * deployment's CA and checks the hub's certificate against the host it dials, so a leaf never links
 * to a hub whose certificate was not issued for that name by that CA, nor the hub to a foreign leaf.
 */
import { serverCertFiles } from "../tls/deployment-tls.ts";
import type { Deployment, ServerEndpoint } from "./deployment.ts";
import { q } from "./nats-config.ts";

/**
 * Seconds a TLS handshake may take. nats-server's default (0.5 s) is too short on a busy machine,
 * where it drops sound connections that are merely slow to negotiate.
 */
const HANDSHAKE_TIMEOUT_S = 5;

/** The server's certificate, key and handshake timeout, as `cert_file: ..., key_file: ..., timeout: ...`. */
function ownCert(d: Deployment, ep: ServerEndpoint): string {
  const files = serverCertFiles(d.tls, ep.name);
  return `cert_file: ${q(files.certFile)}, key_file: ${q(files.keyFile)}, timeout: ${HANDSHAKE_TIMEOUT_S}`;
}

/** Top-level `tls { ... }`: client connections must be TLS. */
export function clientTls(d: Deployment, ep: ServerEndpoint): string {
  return `tls { ${ownCert(d, ep)} }\n`;
}

/** `tls { ... }` inside the hub's `leafnodes`: leaf links must be TLS, from a leaf with a certificate of the deployment's CA. */
export function leafListenerTls(d: Deployment, ep: ServerEndpoint): string {
  return `tls { ${ownCert(d, ep)}, ca_file: ${q(d.tls.caFile)}, verify: true }`;
}

/** `tls { ... }` inside `cluster`: routes are TLS and each node verifies the other's certificate (same CA). */
export function clusterTls(d: Deployment, ep: ServerEndpoint): string {
  return `tls { ${ownCert(d, ep)}, ca_file: ${q(d.tls.caFile)}, verify: true }`;
}

/**
 * `, tls: { ... }` for a leaf's remote: the hub's certificate must come from the deployment's CA, and
 * the leaf shows its own, which the hub checks the same way (mutual TLS on the link between clouds).
 */
export function remoteTls(d: Deployment, leaf: ServerEndpoint): string {
  return `, tls: { ${ownCert(d, leaf)}, ca_file: ${q(d.tls.caFile)} }`;
}
