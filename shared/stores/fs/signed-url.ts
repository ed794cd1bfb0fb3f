import { createHmac, timingSafeEqual } from "node:crypto";
import { assertValidKey } from "../keys.ts";
import { checkSignedUrlOptions } from "../signed-url-options.ts";
import type { SignedUrl, SignedUrlOptions } from "../types.ts";

/**
 * URLs for objects of an `fs` store, which has no server of its own: its cloud's gateway serves
 * `<base>/o/<key>?exp=<unix seconds>&sig=<hex>` over HTTP, where `sig` is an HMAC-SHA256 over the
 * method, key and expiry with a secret only that gateway holds. A URL is good for one method on one
 * key until `exp`.
 */
export const FS_URL_PATH = "/o/";

/** Why the face refuses a request: no valid signature for this method and key, or past its expiry. */
export type FsUrlRefusal = "bad-signature" | "expired";

const mac = (secret: Buffer, method: string, key: string, exp: number): Buffer =>
  createHmac("sha256", secret).update(`${method}\n${key}\n${exp}`).digest();

/** A signed URL for one GET or PUT of `key` under `baseUrl` (the face's address, e.g. `http://127.0.0.1:7070`). */
export function signFsUrl(baseUrl: string, secret: Buffer, key: string, options: SignedUrlOptions): SignedUrl {
  assertValidKey(key);
  checkSignedUrlOptions(options, `sign fs key ${key}`);
  const exp = Math.floor(Date.now() / 1000) + options.expiresInSec;
  const sig = mac(secret, options.method, key, exp).toString("hex");
  const url = new URL(`${FS_URL_PATH}${key}`, baseUrl);
  url.searchParams.set("exp", String(exp));
  url.searchParams.set("sig", sig);
  return { url: url.toString(), headers: {} };
}

/**
 * Checks a request's `exp` and `sig` for `method` on `key`; undefined when it may proceed. The
 * signature is compared in constant time and checked before the expiry, so an attacker learns
 * nothing about a forged URL but "bad-signature".
 */
export function checkFsUrl(
  secret: Buffer,
  method: string,
  key: string,
  params: URLSearchParams,
  nowMs = Date.now(),
): FsUrlRefusal | undefined {
  const exp = Number(params.get("exp"));
  const sig = Buffer.from(params.get("sig") ?? "", "hex");
  if (!Number.isSafeInteger(exp)) return "bad-signature";
  const want = mac(secret, method, key, exp);
  if (sig.length !== want.length || !timingSafeEqual(sig, want)) return "bad-signature";
  return nowMs >= exp * 1000 ? "expired" : undefined;
}
