import { ConfigError } from "../../errors.ts";
import { nonEmpty, optionalOneOf } from "../config-fields.ts";

/** S3's own encryption of the objects ferry writes: SSE-KMS (with a key, or the account's default) or SSE-S3. */
export const S3_SSE_MODES = ["aws:kms", "AES256"] as const;
export type S3SseMode = (typeof S3_SSE_MODES)[number];

/** What a topology.json s3 entry says about encryption; both absent: the bucket's default encryption. */
export interface S3Encryption {
  /** `x-amz-server-side-encryption` on every PutObject and CreateMultipartUpload. */
  serverSideEncryption?: S3SseMode;
  /** `x-amz-server-side-encryption-aws-kms-key-id`: a KMS key id, ARN or alias; only with "aws:kms". */
  kmsKeyId?: string;
}

/** Checks `serverSideEncryption` and `kmsKeyId` of `clouds[i].store`; errors name the key and the fix. */
export function parseS3Encryption(key: string, raw: Record<string, unknown>): S3Encryption {
  const serverSideEncryption = optionalOneOf(`${key}.serverSideEncryption`, raw.serverSideEncryption, S3_SSE_MODES);
  const kmsKeyId = raw.kmsKeyId === undefined ? undefined : nonEmpty(`${key}.kmsKeyId`, raw.kmsKeyId);
  if (kmsKeyId !== undefined && serverSideEncryption !== "aws:kms")
    throw new ConfigError(
      `${key}.kmsKeyId: a KMS key needs "serverSideEncryption": "aws:kms" (SSE-S3, "AES256", takes no key)`,
    );
  return {
    ...(serverSideEncryption ? { serverSideEncryption } : {}),
    ...(kmsKeyId ? { kmsKeyId } : {}),
  };
}

/** The request fields that create an object encrypted as configured (PutObject, CreateMultipartUpload). */
export function s3EncryptionParams(e: S3Encryption): { ServerSideEncryption?: S3SseMode; SSEKMSKeyId?: string } {
  return {
    ...(e.serverSideEncryption ? { ServerSideEncryption: e.serverSideEncryption } : {}),
    ...(e.kmsKeyId ? { SSEKMSKeyId: e.kmsKeyId } : {}),
  };
}
