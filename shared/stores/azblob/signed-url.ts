import {
  BlobSASPermissions,
  BlobServiceClient,
  type ContainerClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { assertValidKey } from "../keys.ts";
import { checkSignedUrlOptions } from "../signed-url-options.ts";
import type { SignedUrl, SignedUrlOptions } from "../types.ts";

/** A SAS starts this long before it is made, so a client whose clock runs a little behind can use it at once. */
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * A SAS URL for one blob: read for GET, create and write for PUT (one Put Blob request, which needs
 * `x-ms-blob-type: BlockBlob`). Signed with the account key when the store has one (a connection
 * string, or Azurite's development account), else with a user delegation key fetched with the
 * store's Entra ID credential, so the account key need not exist on the host. With an encryption
 * scope, an upload SAS names it (`ses`) and the PUT must send it as `x-ms-encryption-scope`.
 */
export async function signAzblob(
  container: ContainerClient,
  key: string,
  options: SignedUrlOptions,
  encryptionScope?: string,
): Promise<SignedUrl> {
  assertValidKey(key);
  checkSignedUrlOptions(options, `sign azblob container ${container.containerName}, key ${key}`);
  const now = Date.now();
  const values = {
    containerName: container.containerName,
    blobName: key,
    permissions: BlobSASPermissions.parse(options.method === "GET" ? "r" : "cw"),
    startsOn: new Date(now - CLOCK_SKEW_MS),
    expiresOn: new Date(now + options.expiresInSec * 1000),
    ...(options.method === "PUT" && encryptionScope ? { encryptionScope } : {}),
  };
  const credential = container.credential;
  let sas: string;
  if (credential instanceof StorageSharedKeyCredential) {
    sas = generateBlobSASQueryParameters(values, credential).toString();
  } else {
    const accountUrl = container.url.slice(0, container.url.lastIndexOf("/"));
    const service = new BlobServiceClient(accountUrl, credential);
    const delegation = await service.getUserDelegationKey(values.startsOn, values.expiresOn);
    sas = generateBlobSASQueryParameters(values, delegation, container.accountName).toString();
  }
  const url = `${container.getBlobClient(key).url}?${sas}`;
  if (options.method === "GET") return { url, headers: {} };
  return {
    url,
    headers: {
      "x-ms-blob-type": "BlockBlob",
      ...(encryptionScope ? { "x-ms-encryption-scope": encryptionScope } : {}),
    },
  };
}
