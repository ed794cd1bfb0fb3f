import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { BlobServiceClient } from "@azure/storage-blob";
import { azurite, localAzblobEndpoint } from "../../shared/stores/azblob/local-server.ts";
import { fakeGcsServer, localGcsEndpoint } from "../../shared/stores/gcs/local-server.ts";
import {
  LOCAL_S3_CREDENTIALS,
  LOCAL_S3_REGION,
  localS3Endpoint,
  versitygw,
} from "../../shared/stores/s3/local-server.ts";
import { freePorts } from "../../supervisor/ports.ts";
import { ServerProcess } from "../../supervisor/server-process.ts";
import { azureConnectionString, type Canaries } from "./canaries.ts";

/**
 * The local S3, Azure Blob and GCS servers, started by the test (not by ferry) so that they accept
 * the canary credentials and nothing else: a deployment pointed at their endpoints (no `local`)
 * reaches them only through the SDKs' own credential chains, as it would reach real clouds.
 * fake-gcs-server checks no credentials; the GCS SDK still loads and signs with the canary key.
 */
export interface CanaryStores {
  s3: string;
  gcs: string;
  azure: string;
  /** Log files of the three servers (part of what the deployment's credentials touched). */
  logs: string[];
  stop(): Promise<void>;
}

/** Starts the three servers under `dir` and creates `buckets` (s3, gcs, azure) in them with the canary credentials. */
export async function startCanaryStores(
  c: Canaries,
  dir: string,
  buckets: { s3: string; gcs: string; azure: string },
): Promise<CanaryStores> {
  const [s3Port = 0, gcsPort = 0, azurePort = 0] = await freePorts(3);
  const logs = ["versitygw", "fake-gcs", "azurite"].map((n) => join(dir, `${n}.log`));
  const s3Spec = await versitygw.process({ port: s3Port, dataDir: join(dir, "s3"), logFile: logs[0] });
  // The development credentials in its arguments give way to the canaries.
  s3Spec.args = s3Spec.args.map((a) =>
    a === LOCAL_S3_CREDENTIALS.accessKeyId
      ? c.s3.accessKeyId
      : a === LOCAL_S3_CREDENTIALS.secretAccessKey
        ? c.s3.secretAccessKey
        : a,
  );
  const gcsSpec = await fakeGcsServer.process({ port: gcsPort, dataDir: join(dir, "gcs"), logFile: logs[1] });
  const azureSpec = await azurite.process({ port: azurePort, dataDir: join(dir, "azure"), logFile: logs[2] });
  azureSpec.env = { AZURITE_ACCOUNTS: `${c.azure.account}:${c.azure.key}` };
  const servers = [s3Spec, gcsSpec, azureSpec].map((s) => new ServerProcess(s));
  const stop = async () => {
    for (const s of servers) await s.stop();
  };
  try {
    for (const s of servers) await s.start();
    const s3 = localS3Endpoint(s3Port);
    const gcs = localGcsEndpoint(gcsPort);
    const azure = localAzblobEndpoint(azurePort).replace(/[^/]+$/, c.azure.account);
    const client = new S3Client({ endpoint: s3, region: LOCAL_S3_REGION, forcePathStyle: true, credentials: c.s3 });
    await client.send(new CreateBucketCommand({ Bucket: buckets.s3 }));
    client.destroy();
    await fakeGcsServer.createBuckets(gcs, [buckets.gcs]);
    await BlobServiceClient.fromConnectionString(azureConnectionString(c, azure))
      .getContainerClient(buckets.azure)
      .createIfNotExists();
    return { s3, gcs, azure, logs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
