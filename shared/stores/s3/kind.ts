import { ConfigError } from "../../errors.ts";
import { s3ObjectReader } from "../../sources/s3-object.ts";
import { parseSize } from "../../units.ts";
import { DNS_BUCKET, localOrEndpoint, named, nonEmpty, optionalBool } from "../config-fields.ts";
import { describeRemote, localServerFields, type StoreKindWithLocalServer } from "../store-kind.ts";
import { parseS3Encryption, type S3Encryption } from "./encryption.ts";
import { LOCAL_S3_REGION, versitygw } from "./local-server.ts";
import { MIN_PART_SIZE, S3Store } from "./s3-store.ts";

/** An S3 store as topology.json gives it. */
export interface S3StoreConfig extends S3Encryption {
  kind: "s3";
  bucket: string;
  /** @default us-east-1 */
  region: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  local?: boolean;
  partSizeBytes?: number;
}

/**
 * An S3 bucket. Without `endpoint`, AWS itself in `region`; credentials come from the AWS SDK's
 * default chain (environment, shared config and profiles, instance roles). `local: true` means a
 * server ferry started on loopback, reached with its fixed development credentials.
 */
export interface S3OpenSpec extends S3Encryption {
  cloud: string;
  kind: "s3";
  bucket: string;
  region: string;
  endpoint?: string;
  /** Path-style URLs (`http://host/bucket/key`), which S3-compatible servers need. */
  forcePathStyle?: boolean;
  local?: boolean;
  /** Multipart part size. @default 8 MiB */
  partSizeBytes?: number;
}

/** Amazon S3 or any S3-compatible service, through the AWS SDK; locally, versitygw. */
export const s3Kind: StoreKindWithLocalServer<"s3", S3StoreConfig, S3OpenSpec> = {
  name: "s3",
  credentialEnv: ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION"],
  fields: [
    "kind",
    "bucket",
    "region",
    "endpoint",
    "forcePathStyle",
    "local",
    "partSize",
    "serverSideEncryption",
    "kmsKeyId",
  ],
  // 5 MiB parts, so the conformance suite's 5 MiB + 1 byte object goes up in two parts.
  example: { kind: "s3", bucket: "ferry-aws", local: true, partSize: "5MiB" },
  parseConfig(key, raw) {
    const { local, endpoint } = localOrEndpoint(key, raw);
    const partSizeBytes = raw.partSize === undefined ? undefined : parseSize(`${key}.partSize`, raw.partSize);
    if (partSizeBytes !== undefined && partSizeBytes < MIN_PART_SIZE)
      throw new ConfigError(`${key}.partSize: S3 parts must be at least 5MiB`);
    const region = raw.region === undefined ? LOCAL_S3_REGION : nonEmpty(`${key}.region`, raw.region);
    const forcePathStyle = optionalBool(`${key}.forcePathStyle`, raw.forcePathStyle);
    return {
      kind: "s3",
      bucket: named(`${key}.bucket`, raw.bucket, DNS_BUCKET),
      region,
      ...(endpoint ? { endpoint } : {}),
      ...(forcePathStyle === undefined ? {} : { forcePathStyle }),
      ...(local ? { local } : {}),
      ...(partSizeBytes === undefined ? {} : { partSizeBytes }),
      ...parseS3Encryption(key, raw),
    };
  },
  openSpec: (cloud, config, placement) => ({
    cloud,
    ...config,
    // S3-compatible servers (the local one included) want path-style URLs; AWS itself takes either.
    forcePathStyle: config.forcePathStyle ?? (config.endpoint !== undefined || placement.localPort !== undefined),
    ...localServerFields(versitygw, placement),
  }),
  open: (spec) => new S3Store(spec),
  describe: (spec) => describeRemote("s3", `bucket ${spec.bucket}`, spec),
  onThisMachine: (config) => config.local === true,
  localServer: versitygw,
  objectUrls: { scheme: "s3", reader: s3ObjectReader },
};
