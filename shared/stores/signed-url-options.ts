import { InputError } from "../errors.ts";
import type { SignedUrlOptions } from "./types.ts";

/** The longest a signed URL may live: S3 and GCS V4 refuse to sign for more than 7 days. */
export const MAX_URL_EXPIRY_SEC = 7 * 24 * 3600;

/** Throws InputError naming the bad value unless `options` asks for GET or PUT for 1 s to 7 days. */
export function checkSignedUrlOptions(options: SignedUrlOptions, at: string): void {
  if (options.method !== "GET" && options.method !== "PUT") {
    throw new InputError(`${at}: method ${JSON.stringify(options.method)} is not "GET" or "PUT"`);
  }
  const sec = options.expiresInSec;
  if (!(Number.isInteger(sec) && sec >= 1 && sec <= MAX_URL_EXPIRY_SEC)) {
    throw new InputError(
      `${at}: expiresInSec ${sec} must be a whole number of seconds from 1 to ${MAX_URL_EXPIRY_SEC}`,
    );
  }
}
