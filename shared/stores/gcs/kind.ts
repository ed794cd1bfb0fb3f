import { gcsObjectReader } from "../../sources/gcs-object.ts";
import { DNS_BUCKET, localOrEndpoint, named, nonEmpty, optionalNamed } from "../config-fields.ts";
import { describeRemote, localServerFields, type StoreKindWithLocalServer } from "../store-kind.ts";
import { GcsStore } from "./gcs-store.ts";
import { fakeGcsServer, LOCAL_GCS_PROJECT_ID } from "./local-server.ts";

/** A Cloud KMS key's resource name, as GCS takes it for customer-managed encryption (CMEK). */
export const GCS_KMS_KEY_NAME = {
  pattern: /^projects\/[^/\s]+\/locations\/[^/\s]+\/keyRings\/[^/\s]+\/cryptoKeys\/[^/\s]+$/,
  rule: "projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>",
} as const;

/** A GCS store as topology.json gives it. */
export interface GcsStoreConfig {
  kind: "gcs";
  bucket: string;
  /** The Cloud KMS key every object ferry writes is encrypted with (CMEK); absent: the bucket's default. */
  kmsKeyName?: string;
  projectId?: string;
  endpoint?: string;
  local?: boolean;
}

/** A GCS bucket. Without `endpoint`, Google itself; credentials from Application Default Credentials. */
export interface GcsOpenSpec {
  cloud: string;
  kind: "gcs";
  bucket: string;
  kmsKeyName?: string;
  projectId?: string;
  endpoint?: string;
  local?: boolean;
}

/** Google Cloud Storage through @google-cloud/storage; locally, fake-gcs-server. */
export const gcsKind: StoreKindWithLocalServer<"gcs", GcsStoreConfig, GcsOpenSpec> = {
  name: "gcs",
  credentialEnv: ["GOOGLE_APPLICATION_CREDENTIALS"],
  fields: ["kind", "bucket", "projectId", "endpoint", "local", "kmsKeyName"],
  example: { kind: "gcs", bucket: "ferry-gcp", local: true },
  parseConfig(key, raw) {
    const { local, endpoint } = localOrEndpoint(key, raw);
    const projectId = raw.projectId === undefined ? undefined : nonEmpty(`${key}.projectId`, raw.projectId);
    const kmsKeyName = optionalNamed(`${key}.kmsKeyName`, raw.kmsKeyName, GCS_KMS_KEY_NAME);
    return {
      kind: "gcs",
      bucket: named(`${key}.bucket`, raw.bucket, DNS_BUCKET),
      ...(projectId ? { projectId } : {}),
      ...(endpoint ? { endpoint } : {}),
      ...(local ? { local } : {}),
      ...(kmsKeyName ? { kmsKeyName } : {}),
    };
  },
  openSpec: (cloud, config, placement) => ({
    cloud,
    ...config,
    // The emulator wants some project id, and checks no credentials.
    ...(placement.localPort === undefined ? {} : { projectId: config.projectId ?? LOCAL_GCS_PROJECT_ID }),
    ...localServerFields(fakeGcsServer, placement),
  }),
  open: (spec) => new GcsStore(spec),
  describe: (spec) => describeRemote("gcs", `bucket ${spec.bucket}`, spec),
  onThisMachine: (config) => config.local === true,
  localServer: fakeGcsServer,
  objectUrls: { scheme: "gs", reader: gcsObjectReader },
};
