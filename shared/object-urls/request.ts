import { type NatsConnection, RequestError, TimeoutError } from "@nats-io/transport-node";
import { type FerryError, InputError, StoreAccessError, StoreUnavailableError } from "../errors.ts";
import { objectUrlSubject } from "../subjects.ts";
import { type IssuedObjectUrl, isIssuedUrl, type ObjectUrlOp, type ObjectUrlReply } from "./protocol.ts";

export interface RequestObjectUrlOptions {
  /** How long to wait for the gateway's answer. @default 5000 */
  timeoutMs?: number;
}

/**
 * Asks `cloud`'s gateway over NATS for a short-lived URL to GET or PUT one object of that cloud's
 * store. Throws InputError when the gateway refuses the key (outside staging/ and chunks/, or a
 * PUT outside staging/), StoreAccessError when that cloud's credentials cannot sign,
 * StoreUnavailableError when no gateway answers or its store cannot sign now.
 */
export async function requestObjectUrl(
  nc: NatsConnection,
  cloud: string,
  op: ObjectUrlOp,
  key: string,
  options: RequestObjectUrlOptions = {},
): Promise<IssuedObjectUrl> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const subject = objectUrlSubject(cloud);
  const at = `${op} URL for ${cloud} key ${key}`;
  let reply: ObjectUrlReply;
  try {
    const msg = await nc.request(subject, JSON.stringify({ op, key }), { timeout: timeoutMs });
    reply = msg.json<ObjectUrlReply>();
  } catch (err) {
    throw askFailed(err, at, subject, timeoutMs);
  }
  if (isIssuedUrl(reply)) return reply;
  if (reply.reason === "refused") throw new InputError(`${at}: the gateway refused: ${reply.error}`);
  if (reply.reason === "denied")
    throw new StoreAccessError(`${at}: the gateway's credentials cannot sign it (see its log): ${reply.error}`);
  throw new StoreUnavailableError(`${at}: the gateway could not sign it now: ${reply.error}`);
}

function askFailed(err: unknown, at: string, subject: string, timeoutMs: number): FerryError {
  if (err instanceof RequestError && err.isNoResponders()) {
    return new StoreUnavailableError(
      `${at}: no gateway answers on ${subject} (is that cloud's gateway process running and its leaf linked?)`,
      { cause: err },
    );
  }
  if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
    return new StoreUnavailableError(`${at}: the gateway did not answer within ${timeoutMs} ms`, { cause: err });
  }
  if (err instanceof SyntaxError) return new StoreUnavailableError(`${at}: the answer is not JSON`, { cause: err });
  return new StoreUnavailableError(`${at}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
