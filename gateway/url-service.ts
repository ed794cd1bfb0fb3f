import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "../observability/log.ts";
import { describeError, InputError, StoreAccessError } from "../shared/errors.ts";
import { type IssuedObjectUrl, type ObjectUrlRefusal, parseObjectUrlRequest } from "../shared/object-urls/protocol.ts";
import { redact } from "../shared/stores/store-errors.ts";
import type { SignedUrl, SignedUrlOptions } from "../shared/stores/types.ts";
import { objectUrlSubject } from "../shared/subjects.ts";
import { keyRefusal } from "./key-policy.ts";

/** Signs one object's URL: the store's own signedUrl, or the fs face's. */
export type UrlSigner = (key: string, options: SignedUrlOptions) => Promise<SignedUrl>;

export interface UrlServiceOptions {
  nc: NatsConnection;
  cloud: string;
  sign: UrlSigner;
  /** How long each URL lives. */
  expiresInSec: number;
  log: Logger;
}

/** Every gateway of a cloud joins this queue group, so each request is answered once. */
const QUEUE = "gateway";

/**
 * Answers `objectUrlSubject(cloud)` requests with a URL for one allowed object (see keyRefusal), or
 * a refusal. Each URL issued is logged by op, key and expiry, with its query string (the signature)
 * left out.
 */
export function serveObjectUrls(o: UrlServiceOptions): Subscription {
  return o.nc.subscribe(objectUrlSubject(o.cloud), {
    queue: QUEUE,
    callback: (err, msg) => {
      if (err) o.log.warn({ err: describeError(err) }, "object URL subscription failed");
      else void answer(o, msg);
    },
  });
}

async function answer(o: UrlServiceOptions, msg: Msg): Promise<void> {
  let raw: unknown;
  try {
    raw = msg.json();
  } catch {
    raw = undefined;
  }
  const request = parseObjectUrlRequest(raw);
  if ("error" in request) return refuse(o, msg, request);
  const refusal = keyRefusal(request.op, request.key);
  if (refusal !== undefined) return refuse(o, msg, { reason: "refused", error: refusal });
  const expiresAt = new Date(Date.now() + o.expiresInSec * 1000).toISOString();
  try {
    const method = request.op === "get" ? "GET" : "PUT";
    const signed = await o.sign(request.key, { method, expiresInSec: o.expiresInSec });
    const reply: IssuedObjectUrl = { ...signed, expiresAt };
    msg.respond(JSON.stringify(reply));
    o.log.info({ op: request.op, key: request.key, expiresAt, url: redact(signed.url) }, "object URL issued");
  } catch (err) {
    const reason = err instanceof InputError ? "refused" : err instanceof StoreAccessError ? "denied" : "unavailable";
    refuse(o, msg, { reason, error: describeError(err) });
  }
}

function refuse(o: UrlServiceOptions, msg: Msg, refusal: ObjectUrlRefusal): void {
  msg.respond(JSON.stringify(refusal));
  o.log.warn({ reason: refusal.reason, error: redact(refusal.error) }, "object URL refused");
}
