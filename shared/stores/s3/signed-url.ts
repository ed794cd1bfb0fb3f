import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { assertValidKey } from "../keys.ts";
import { checkSignedUrlOptions } from "../signed-url-options.ts";
import type { SignedUrl, SignedUrlOptions } from "../types.ts";

/**
 * Presigns one GET or PUT with the client's own credentials (SigV4 in the query string). The client
 * must be made with `requestChecksumCalculation: "WHEN_REQUIRED"`: otherwise the SDK signs the CRC32
 * of the empty body it sees at signing time into a PUT URL, and every real upload is refused
 * (aws/aws-sdk-js-v3#6994).
 */
export async function presignS3(
  client: S3Client,
  bucket: string,
  key: string,
  options: SignedUrlOptions,
): Promise<SignedUrl> {
  assertValidKey(key);
  checkSignedUrlOptions(options, `sign s3 bucket ${bucket}, key ${key}`);
  const input = { Bucket: bucket, Key: key };
  const command = options.method === "GET" ? new GetObjectCommand(input) : new PutObjectCommand(input);
  const url = await getSignedUrl(client, command, { expiresIn: options.expiresInSec });
  return { url, headers: {} };
}
