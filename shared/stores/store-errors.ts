import {
  type FerryError,
  ObjectExistsError,
  ObjectNotFoundError,
  StoreAccessError,
  StoreUnavailableError,
} from "../errors.ts";
import type { StoreKind } from "./types.ts";

/** The parts of a store an error message names. */
export interface StoreIdentity {
  readonly cloud: string;
  readonly kind: StoreKind;
  readonly bucket: string;
}

/** `aws (s3 bucket ferry-aws, key chunks/f/0-ab…)`: where a failure happened, for every store error. */
export function where(store: StoreIdentity, key?: string): string {
  return `${store.cloud} (${store.kind} bucket ${store.bucket}${key === undefined ? "" : `, key ${key}`})`;
}

/** What an SDK told us about a failed request, in the terms every store shares. */
export interface FailedRequest {
  /** HTTP status, when a response came back. */
  status?: number;
  /** The service's error code (`NoSuchBucket`, `ContainerNotFound`, …) or a socket error code (`ECONNRESET`). */
  code?: string;
  message?: string;
}

const BUCKET_MISSING = /nosuchbucket|containernotfound|bucket.*not.*(found|exist)|notfound.*bucket/i;
/** Credentials the service does not know, whatever status it chose (versitygw answers an unknown access key with 404). */
const UNKNOWN_CREDENTIALS = /^(InvalidAccessKeyId|XAdminUserNotFound)$/;
/** The SDK found no credentials at all (AWS default chain, @azure/identity, Google ADC): a set-up problem, not an outage. */
const NO_CREDENTIALS =
  /^(CredentialsProviderError|CredentialUnavailableError|AuthenticationRequiredError)$|could not load the default credentials/i;
/** The credentials were found but cannot be used: OpenSSL could not read their key (a damaged key file). */
const UNUSABLE_CREDENTIALS = /^ERR_OSSL_/;
const NETWORK_CODES =
  /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|UND_ERR_\w+|TimeoutError|RequestTimeout)$/;
/** Azure found the block it received differs from the Content-MD5 or CRC64 sent with it: damaged on the way, worth resending. */
const DAMAGED_IN_TRANSIT = /^(Md5Mismatch|Crc64Mismatch)$/;

/**
 * Turns a failed store request into the project's typed errors, decided by status and code, never
 * by message text alone: 404 → ObjectNotFoundError (or StoreAccessError when the bucket is missing),
 * 409/412 on a write → ObjectExistsError, 401/403 → StoreAccessError, 408/429/5xx and socket
 * failures → StoreUnavailableError (retryable), and so is a checksum mismatch the service found (bytes
 * damaged on the way). Other 4xx are StoreAccessError: a retry would fail the same way. Messages
 * are redacted of anything that looks like a credential.
 */
export function storeError(
  store: StoreIdentity,
  op: string,
  key: string | undefined,
  failure: FailedRequest,
  cause?: unknown,
): FerryError {
  const { status, code = "" } = failure;
  const detail = redact([status, code, failure.message].filter((x) => x !== undefined && x !== "").join(" "));
  const at = `${op} ${where(store, key)}`;
  if (status === undefined && (NO_CREDENTIALS.test(code) || NO_CREDENTIALS.test(failure.message ?? ""))) {
    return new StoreAccessError(
      `${at}: no credentials found (${detail}). Fix: give this cloud's SDK credentials in the environment (see README, "Real clouds")`,
      { cause },
    );
  }
  if (status === undefined && UNUSABLE_CREDENTIALS.test(code)) {
    return new StoreAccessError(
      `${at}: the credentials cannot be used (${detail}). Fix: check the key this cloud's SDK finds (a damaged key file? see README, "Real clouds")`,
      { cause },
    );
  }
  if (BUCKET_MISSING.test(code) || (status === 404 && BUCKET_MISSING.test(failure.message ?? ""))) {
    return new StoreAccessError(
      `${at}: the bucket does not exist (${detail}). Fix: create it, or correct the bucket in topology.json`,
      { cause },
    );
  }
  if (status === 404 && !UNKNOWN_CREDENTIALS.test(code))
    return new ObjectNotFoundError(`${at}: no such object`, { cause });
  if ((status === 409 || status === 412) && op === "put")
    return new ObjectExistsError(`${at}: an object is already there`, { cause });
  if (status === 401 || status === 403 || UNKNOWN_CREDENTIALS.test(code)) {
    return new StoreAccessError(
      `${at}: access denied (${detail}). Fix: check the credentials this cloud's SDK finds (see README, "Real clouds")`,
      { cause },
    );
  }
  if (status === undefined || status === 408 || status === 429 || status >= 500 || NETWORK_CODES.test(code)) {
    return new StoreUnavailableError(`${at}: store unavailable (${detail || "no response"})`, { cause });
  }
  if (DAMAGED_IN_TRANSIT.test(code)) {
    return new StoreUnavailableError(`${at}: the bytes arrived damaged (${detail}); sending them again may succeed`, {
      cause,
    });
  }
  return new StoreAccessError(`${at}: refused (${detail})`, { cause });
}

const SECRET_PATTERNS: [RegExp, string][] = [
  // Query strings carry SAS tokens and presigned signatures.
  [/(https?:\/\/[^\s?"']+)\?[^\s"']*/g, "$1?<redacted>"],
  [
    /(AccountKey|SharedAccessSignature|sig|Signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|access_token|client_secret)=([^;&\s"']+)/gi,
    "$1=<redacted>",
  ],
  // A header's value, with its scheme when it has one (`Bearer <token>`, `SharedKey <account>:<key>`).
  [/(Authorization|x-amz-security-token)(["']?\s*[:=]\s*["']?)(?:[A-Za-z][\w-]*\s+)?[^\s"',}]+/gi, "$1$2<redacted>"],
  [/AKIA[0-9A-Z]{16}/g, "<redacted-access-key-id>"],
];

/** Removes credentials from a text that came from an SDK or a server (URLs with tokens, keys, auth headers). */
export function redact(text: string): string {
  return SECRET_PATTERNS.reduce((t, [re, to]) => t.replace(re, to), text);
}
