/**
 * What a cloud's gateway and its askers say to each other on `objectUrlSubject(cloud)`: a request
 * `{ op, key }` and either a URL with the headers to send and its expiry, or a refusal with a reason.
 */

/** `get` reads one object; `put` writes one (only under staging/). */
export type ObjectUrlOp = "get" | "put";

export interface ObjectUrlRequest {
  op: ObjectUrlOp;
  key: string;
}

/** A URL for one object, good until `expiresAt`; no credentials beyond it are needed. */
export interface IssuedObjectUrl {
  url: string;
  /** Headers the request must carry. */
  headers: Record<string, string>;
  /** ISO 8601. */
  expiresAt: string;
}

/**
 * Why a gateway gave no URL: `refused` (the request or key is not allowed), `denied` (the cloud's
 * credentials cannot sign: a set-up problem there), `unavailable` (the store or its signer failed
 * for now: try again later).
 */
export interface ObjectUrlRefusal {
  error: string;
  reason: "refused" | "denied" | "unavailable";
}

export type ObjectUrlReply = IssuedObjectUrl | ObjectUrlRefusal;

/** The request in `raw` (parsed JSON), or a refusal naming what is wrong with it. */
export function parseObjectUrlRequest(raw: unknown): ObjectUrlRequest | ObjectUrlRefusal {
  const r = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  if (r.op !== "get" && r.op !== "put") {
    return { reason: "refused", error: `op ${JSON.stringify(r.op)} is not "get" or "put"` };
  }
  if (typeof r.key !== "string" || r.key === "") {
    return {
      reason: "refused",
      error: `key ${JSON.stringify(r.key)} is not an object key such as "staging/<fileId>/0"`,
    };
  }
  return { op: r.op, key: r.key };
}

/** Whether a reply is a URL (else a refusal). */
export function isIssuedUrl(reply: ObjectUrlReply): reply is IssuedObjectUrl {
  return typeof (reply as IssuedObjectUrl).url === "string";
}
