/**
 * Where a deployment keeps its TLS files, and the certificate each of its nats-servers presents.
 * `<dataDir>/tls/` (0700) holds the CA (`ca.pem`, `ca-key.pem`: made on first start, reused after,
 * unless the topology names the operator's own CA) and `<server>.pem` / `<server>-key.pem` per server
 * (issued again on every start, so a changed address list is picked up). Keys are 0600.
 */
import { randomUUID } from "node:crypto";
import { copyFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Deployment, ServerEndpoint } from "../topology/deployment.ts";
import { type CertFiles, ensureCa, ensurePrivateDir, issueServerCert } from "./certificates.ts";

/** The TLS part of a deployment, as deployment.json records it: paths only, never a key. */
export interface DeploymentTls {
  /** Folder of the server certificates and keys (and of the generated CA). */
  dir: string;
  /** The CA certificate every client and server of the deployment trusts. */
  caFile: string;
}

/** The operator's own CA (topology `tls: { ca, key }`), which signs the servers' certificates instead of a generated one. */
export interface ProvidedCa {
  caFile: string;
  keyFile: string;
}

export const TLS_DIR = "tls";

/** The deployment's TLS paths under `dataDir`: its own CA there, or the operator's. */
export function deploymentTls(dataDir: string, provided?: ProvidedCa): DeploymentTls {
  const dir = join(dataDir, TLS_DIR);
  return { dir, caFile: provided?.caFile ?? join(dir, "ca.pem") };
}

/** The certificate and key a server presents, by server name (`hub`, `hub-2`, `aws`). */
export function serverCertFiles(tls: DeploymentTls, serverName: string): CertFiles {
  return { certFile: join(tls.dir, `${serverName}.pem`), keyFile: join(tls.dir, `${serverName}-key.pem`) };
}

/**
 * Every name a server is dialled by: loopback (`localhost`, `127.0.0.1`), its server name (the
 * compose service name), the host of its URL, and for a hub node its `hub.addresses` entry (how the
 * leaves and clients of other hosts reach it).
 */
export function serverHosts(d: Deployment, ep: ServerEndpoint): string[] {
  const hosts = ["localhost", "127.0.0.1", ep.name, new URL(ep.url).hostname];
  const node = d.hubNodes.findIndex((n) => n.name === ep.name);
  const address = node >= 0 ? d.topology.hub.addresses[node] : undefined;
  if (address) hosts.push(address);
  return [...new Set(hosts)];
}

/**
 * Issues the certificate of each of `servers` into the deployment's TLS folder, signed by `ca`
 * (default: the deployment's own, made when needed, or the operator's). With another `ca` (a host's
 * bundle, whose CA key stays with the planner) its certificate is copied to `d.tls.caFile`.
 * Returns the files written.
 */
export function ensureServerCerts(d: Deployment, servers: ServerEndpoint[], ca?: CertFiles): string[] {
  if (servers.length === 0) return [];
  ensurePrivateDir(d.tls.dir);
  const signer = ca ?? deploymentCa(d);
  if (resolve(signer.certFile) !== resolve(d.tls.caFile)) copyFileSync(signer.certFile, d.tls.caFile);
  const written = [d.tls.caFile];
  for (const ep of servers) {
    const files = serverCertFiles(d.tls, ep.name);
    issueServerCert(signer, files, ep.name, serverHosts(d, ep));
    written.push(files.certFile, files.keyFile);
  }
  return written;
}

/** The CA that signs this deployment's server certificates: the operator's, or the one made here. */
function deploymentCa(d: Deployment): CertFiles {
  const provided = d.topology.tls;
  if (provided) return { certFile: provided.caFile, keyFile: provided.keyFile };
  return ensureCaIn(d.tls.dir);
}

/** The CA kept in `dir` (`ca.pem`, `ca-key.pem`), made there on first use. */
export function ensureCaIn(dir: string): CertFiles {
  ensurePrivateDir(dir);
  return ensureCa(
    { certFile: join(dir, "ca.pem"), keyFile: join(dir, "ca-key.pem") },
    `ferry CA ${randomUUID().slice(0, 8)}`,
  );
}
