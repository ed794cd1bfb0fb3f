/**
 * A deployment's certificate authority and the certificates it signs for each nats-server, made with
 * openssl: EC P-256 keys, written 0600 into a 0700 folder, each file renamed into place whole.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { isIP } from "node:net";
import { ConfigError } from "../errors.ts";
import { openssl } from "./openssl.ts";

/** A certificate and its private key, as PEM files. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
}

/** Ten years: a deployment's own CA is replaced by deleting it, not by expiry. */
const CA_DAYS = "3650";
/** Server certificates are issued again on every start; 825 days is the longest clients accept. */
const SERVER_DAYS = "825";
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc"];

/** Creates `dir` owner-only (0700), tightening it when it already exists. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * The CA in `files`, made once: when both files exist they are used as they are (a deployment keeps
 * its CA across restarts); when neither does, a new CA named `name` is made. One without the other
 * is an error naming both files.
 */
export function ensureCa(files: CertFiles, name: string): CertFiles {
  const have = [files.certFile, files.keyFile].filter((f) => existsSync(f));
  if (have.length === 2) return files;
  if (have.length === 1)
    throw new ConfigError(
      `TLS: ${have[0]} exists without its pair (${files.certFile}, ${files.keyFile}): restore the missing file, or delete both to make a new CA (every server certificate is then issued again)`,
    );
  writeWhole(files, (tmp) =>
    openssl(`making the deployment's CA ${files.certFile}`, [
      ...newKeyAndCertificate(tmp),
      "-days",
      CA_DAYS,
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]),
  );
  return files;
}

/**
 * Issues `out`, a certificate for a server named `name` signed by `ca`, valid for every host in
 * `hosts` (names and IP addresses as clients dial them). It serves both ends of a TLS link (cluster
 * routes dial each other), so it is marked for server and client authentication.
 */
export function issueServerCert(ca: CertFiles, out: CertFiles, name: string, hosts: string[]): void {
  const sans = [...new Set(hosts)].map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  writeWhole(out, (tmp) =>
    openssl(`issuing the TLS certificate of ${name}`, [
      ...newKeyAndCertificate(tmp),
      "-CA",
      ca.certFile,
      "-CAkey",
      ca.keyFile,
      "-days",
      SERVER_DAYS,
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=${sans}`,
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "keyUsage=critical,digitalSignature",
      "-addext",
      "extendedKeyUsage=serverAuth,clientAuth",
    ]),
  );
}

/** The openssl arguments that make a new EC key and a certificate for it into `tmp`. */
function newKeyAndCertificate(tmp: CertFiles): string[] {
  return ["req", "-x509", "-new", ...EC_KEY, "-keyout", tmp.keyFile, "-out", tmp.certFile];
}

/** Lets `make` write temporary files, makes the key 0600, then renames both into place. */
function writeWhole(files: CertFiles, make: (tmp: CertFiles) => void): void {
  const tmp = { certFile: `${files.certFile}.tmp`, keyFile: `${files.keyFile}.tmp` };
  try {
    make(tmp);
    chmodSync(tmp.keyFile, 0o600);
    chmodSync(tmp.certFile, 0o644);
    renameSync(tmp.keyFile, files.keyFile);
    renameSync(tmp.certFile, files.certFile);
  } finally {
    rmSync(tmp.keyFile, { force: true });
    rmSync(tmp.certFile, { force: true });
  }
}
