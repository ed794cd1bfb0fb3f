import { generateKeyPairSync } from "node:crypto";
import { type Bucket, Storage, type StorageOptions } from "@google-cloud/storage";
import { assertValidKey } from "../keys.ts";
import { checkSignedUrlOptions } from "../signed-url-options.ts";
import type { SignedUrl, SignedUrlOptions } from "../types.ts";
import type { GcsOpenSpec } from "./kind.ts";

/**
 * The account the local emulator's URLs are signed as. fake-gcs-server checks no signature (it
 * serves any URL for an object), so the key is thrown away with the process: a URL it signed still
 * carries a real V4 signature and expiry, but on the emulator they protect nothing. Real GCS checks both.
 */
const LOCAL_SIGNER_EMAIL = "ferry-local-signer@ferry-local.iam.gserviceaccount.com";
let localSignerKey: string | undefined;

/** A throwaway RSA key, made once per process, for signing URLs to the local emulator. */
function throwawayKey(): string {
  localSignerKey ??= generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  }).privateKey;
  return localSignerKey;
}

/**
 * The bucket that signs URLs. Against real GCS it is the store's own (Application Default
 * Credentials: a service account key signs locally, other identities through IAM signBlob); the
 * emulator's client has no credentials, so a second client signs with a throwaway key.
 */
export function signingBucket(spec: Omit<GcsOpenSpec, "kind">, options: StorageOptions, own: Bucket): Bucket {
  if (!spec.local) return own;
  return new Storage({
    ...options,
    // google-auth-library calls this option deprecated (one console line per client) but it is the
    // only one from which the URL signer learns the account's email: a bare JWT client gives none.
    credentials: { client_email: LOCAL_SIGNER_EMAIL, private_key: throwawayKey() },
  }).bucket(spec.bucket);
}

/**
 * A V4 signed URL for one GET or PUT of `key`; the PUT takes any content type (none is signed). With
 * a CMEK key, a PUT signs `x-goog-encryption-kms-key-name` and returns it for the uploader to send.
 */
export async function signGcs(
  bucket: Bucket,
  key: string,
  options: SignedUrlOptions,
  kmsKeyName?: string,
): Promise<SignedUrl> {
  assertValidKey(key);
  checkSignedUrlOptions(options, `sign gcs bucket ${bucket.name}, key ${key}`);
  const headers: Record<string, string> =
    options.method === "PUT" && kmsKeyName ? { "x-goog-encryption-kms-key-name": kmsKeyName } : {};
  const [url] = await bucket.file(key).getSignedUrl({
    version: "v4",
    action: options.method === "GET" ? "read" : "write",
    expires: Date.now() + options.expiresInSec * 1000,
    ...(Object.keys(headers).length > 0 ? { extensionHeaders: headers } : {}),
  });
  return { url, headers };
}
