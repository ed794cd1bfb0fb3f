import { AZURITE_DEV_ACCOUNT } from "./azblob/azblob-store.ts";

/** Where clients reach the local server ferry starts for a store kind on 127.0.0.1:`port`. */
const ENDPOINTS = {
  s3: (port: number) => `http://127.0.0.1:${port}`,
  gcs: (port: number) => `http://127.0.0.1:${port}`,
  // Azurite is path-style: the development account is the first path segment.
  azblob: (port: number) => `http://127.0.0.1:${port}/${AZURITE_DEV_ACCOUNT.name}`,
} as const;

/** The URL clients use for the local server of a store kind on 127.0.0.1:`port`. */
export function localStoreEndpoint(kind: keyof typeof ENDPOINTS, port: number): string {
  return ENDPOINTS[kind](port);
}
