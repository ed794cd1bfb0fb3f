import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import type { Logger } from "../observability/log.ts";
import { describeError, InputError, ObjectNotFoundError, StoreUnavailableError } from "../shared/errors.ts";
import { checkFsUrl, FS_URL_PATH, signFsUrl } from "../shared/stores/fs/signed-url.ts";
import { isValidKey } from "../shared/stores/keys.ts";
import type { BlobStore } from "../shared/stores/types.ts";
import type { GatewaySpec } from "../shared/topology/gateway-config.ts";
import type { UrlSigner } from "./url-service.ts";

export interface FsFaceOptions {
  /** The cloud's store: an fs store, which has no URLs of its own. */
  store: BlobStore;
  secret: Buffer;
  listen: GatewaySpec["listen"];
  publicUrl?: string | undefined;
  log: Logger;
}

/** A running HTTP face: its base URL, a signer for URLs it will accept, and how to stop it. */
export interface FsFace {
  readonly baseUrl: string;
  readonly sign: UrlSigner;
  close(): Promise<void>;
}

/**
 * Serves an fs store's objects over HTTP to holders of URLs it signed (see shared/stores/fs/signed-url.ts):
 * GET and HEAD stream an object out, PUT streams one in (all or nothing, replacing what is there, as
 * a presigned PUT does on S3). A bad signature or an expired URL gets 403, a missing object 404.
 * Bytes are piped with backpressure, so memory stays at a few buffers per request.
 */
export async function startFsFace(o: FsFaceOptions): Promise<FsFace> {
  const server = createServer((req, res) => {
    void handle(o, req, res).catch((err: unknown) => {
      o.log.warn({ err: describeError(err) }, "fs face request failed");
      if (!res.headersSent) reply(res, 500, "InternalError", "the gateway failed");
      else res.destroy();
    });
  });
  await listen(server, o.listen.host, o.listen.port);
  const port = (server.address() as AddressInfo).port;
  const baseUrl = o.publicUrl ?? `http://${o.listen.host}:${port}`;
  o.log.info({ listen: `${o.listen.host}:${port}`, baseUrl }, "fs face listening");
  return {
    baseUrl,
    sign: async (key, options) => signFsUrl(baseUrl, o.secret, key, options),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(o: FsFaceOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://face");
  const key = url.pathname.startsWith(FS_URL_PATH) ? url.pathname.slice(FS_URL_PATH.length) : "";
  const method = req.method === "HEAD" ? "GET" : (req.method ?? "");
  if (method !== "GET" && method !== "PUT") return reply(res, 405, "MethodNotAllowed", "only GET, HEAD and PUT");
  if (!isValidKey(key)) return reply(res, 400, "InvalidKey", "not an object path");
  const refusal = checkFsUrl(o.secret, method, key, url.searchParams);
  if (refusal === "expired") return reply(res, 403, "ExpiredToken", "the URL has expired");
  if (refusal) return reply(res, 403, "SignatureDoesNotMatch", "the URL's signature does not match");
  try {
    if (method === "PUT") {
      await o.store.put(key, req, { overwrite: true });
      return reply(res, 200);
    }
    const info = await o.store.head(key);
    if (!info) return reply(res, 404, "NoSuchKey", "no such object");
    res.writeHead(200, { "content-length": String(info.size), "content-type": "application/octet-stream" });
    if (req.method === "HEAD") return void res.end();
    await pipeline(await o.store.get(key), res);
  } catch (err) {
    if (res.headersSent) throw err;
    if (err instanceof ObjectNotFoundError) return reply(res, 404, "NoSuchKey", "no such object");
    if (err instanceof InputError) return reply(res, 400, "InvalidRequest", describeError(err));
    if (err instanceof StoreUnavailableError) return reply(res, 503, "ServiceUnavailable", describeError(err));
    throw err;
  }
}

/** An answer with an S3-style error body, whose <Code> the client side reads. */
function reply(res: ServerResponse, status: number, code?: string, message?: string): void {
  const body = code ? `<Error><Code>${code}</Code><Message>${message ?? ""}</Message></Error>` : "";
  res.writeHead(status, { "content-type": "application/xml", "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}
