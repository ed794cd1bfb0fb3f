import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { assertValidKey } from "../keys.ts";
import { checkSignedUrlOptions } from "../signed-url-options.ts";
import type { SignedUrl, SignedUrlOptions } from "../types.ts";
import { type S3Encryption, s3EncryptionParams } from "./encryption.ts";

/** The encryption headers a PUT URL is signed with, which its user must send as they are. */
const SSE_HEADERS = {
  ServerSideEncryption: "x-amz-server-side-encryption",
  SSEKMSKeyId: "x-amz-server-side-encryption-aws-kms-key-id",
} as const;

/**
 * Presigns one GET or PUT with the client's own credentials (SigV4 in the query string). The client
 * must be made with `requestChecksumCalculation: "WHEN_REQUIRED"`: otherwise the SDK signs the CRC32
 * of the empty body it sees at signing time into a PUT URL, and every real upload is refused
 * (aws/aws-sdk-js-v3#6994). A PUT of a store with its own encryption signs those headers (kept out of
 * the query string, where S3 does not take them) and returns them for the uploader to send.
 */
export async function presignS3(
  client: S3Client,
  bucket: string,
  key: string,
  options: SignedUrlOptions,
  encryption: S3Encryption = {},
): Promise<SignedUrl> {
  assertValidKey(key);
  checkSignedUrlOptions(options, `sign s3 bucket ${bucket}, key ${key}`);
  const input = { Bucket: bucket, Key: key };
  if (options.method === "GET") {
    const url = await getSignedUrl(client, new GetObjectCommand(input), { expiresIn: options.expiresInSec });
    return { url, headers: {} };
  }
  const sse = s3EncryptionParams(encryption);
  const headers = Object.fromEntries(
    Object.entries(sse).map(([field, value]) => [SSE_HEADERS[field as keyof typeof SSE_HEADERS], value]),
  );
  const url = await getSignedUrl(client, new PutObjectCommand({ ...input, ...sse }), {
    expiresIn: options.expiresInSec,
    unhoistableHeaders: new Set(Object.keys(headers)),
  });
  return { url, headers };
}
