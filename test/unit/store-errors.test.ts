/**
 * shared/stores/store-errors.ts: how a failed store request becomes a typed error (which decides retry
 * or dead letter), what its message says, and that no credential survives into a message.
 */
import { describe, expect, it } from "vitest";
import {
  type FerryError,
  isRetryable,
  ObjectExistsError,
  ObjectNotFoundError,
  StoreAccessError,
  StoreUnavailableError,
} from "../../shared/errors.ts";
import { type FailedRequest, redact, type StoreIdentity, storeError } from "../../shared/stores/store-errors.ts";

const STORE: StoreIdentity = { cloud: "gcp", kind: "gcs", bucket: "ferry-train" };
const KEY = "chunks/f1/0-abc";
const AT = `get gcp (gcs bucket ferry-train, key ${KEY})`;

type ErrorClass = new (...args: never[]) => FerryError;

interface Case {
  what: string;
  failure: FailedRequest;
  op?: string;
  is: ErrorClass;
  /** What the message says after `<op> <where>: `. */
  says: RegExp;
}

const CASES: Case[] = [
  {
    what: "no credentials in the AWS chain",
    failure: { code: "CredentialsProviderError", message: "Could not load credentials from any providers" },
    is: StoreAccessError,
    says: /^no credentials found \(.*\)\. Fix: give this cloud's SDK credentials in the environment/,
  },
  {
    what: "no Azure identity",
    failure: { code: "CredentialUnavailableError" },
    is: StoreAccessError,
    says: /^no credentials found/,
  },
  {
    what: "no Google ADC (told by message only)",
    failure: { message: "Could not load the default credentials. Browse to ..." },
    is: StoreAccessError,
    says: /^no credentials found/,
  },
  {
    what: "a missing bucket by code, whatever the status",
    failure: { status: 400, code: "NoSuchBucket" },
    is: StoreAccessError,
    says: /^the bucket does not exist \(400 NoSuchBucket\)\. Fix: create it, or correct the bucket in topology\.json$/,
  },
  {
    what: "a missing container",
    failure: { status: 404, code: "ContainerNotFound" },
    is: StoreAccessError,
    says: /^the bucket does not exist/,
  },
  {
    what: "a 404 whose message says the bucket is missing",
    failure: { status: 404, message: "bucket ferry-train not found" },
    is: StoreAccessError,
    says: /^the bucket does not exist/,
  },
  {
    what: "a missing object",
    failure: { status: 404, code: "NoSuchKey" },
    is: ObjectNotFoundError,
    says: /^no such object$/,
  },
  {
    what: "an unknown access key answered with 404 (versitygw)",
    failure: { status: 404, code: "InvalidAccessKeyId" },
    is: StoreAccessError,
    says: /^access denied \(404 InvalidAccessKeyId\)\. Fix: check the credentials/,
  },
  {
    what: "a create-only put that finds an object (412)",
    op: "put",
    failure: { status: 412, code: "PreconditionFailed" },
    is: ObjectExistsError,
    says: /^an object is already there$/,
  },
  {
    what: "a create-only put that finds an object (409)",
    op: "put",
    failure: { status: 409, code: "BlobAlreadyExists" },
    is: ObjectExistsError,
    says: /^an object is already there$/,
  },
  {
    what: "a 409 on anything but a put",
    failure: { status: 409, code: "LeaseIdMissing" },
    is: StoreAccessError,
    says: /^refused \(409 LeaseIdMissing\)$/,
  },
  { what: "401", failure: { status: 401 }, is: StoreAccessError, says: /^access denied \(401\)\. Fix: check/ },
  {
    what: "403",
    failure: { status: 403, code: "AccessDenied" },
    is: StoreAccessError,
    says: /^access denied \(403 AccessDenied\)/,
  },
  { what: "no response at all", failure: {}, is: StoreUnavailableError, says: /^store unavailable \(no response\)$/ },
  {
    what: "a reset connection",
    failure: { code: "ECONNRESET", message: "socket hang up" },
    is: StoreUnavailableError,
    says: /^store unavailable \(ECONNRESET socket hang up\)$/,
  },
  {
    what: "a network code under a 4xx status",
    failure: { status: 400, code: "RequestTimeout" },
    is: StoreUnavailableError,
    says: /^store unavailable/,
  },
  { what: "408", failure: { status: 408 }, is: StoreUnavailableError, says: /^store unavailable \(408\)$/ },
  {
    what: "429",
    failure: { status: 429, code: "SlowDown" },
    is: StoreUnavailableError,
    says: /^store unavailable \(429 SlowDown\)$/,
  },
  {
    what: "500",
    failure: { status: 500, code: "InternalError" },
    is: StoreUnavailableError,
    says: /^store unavailable/,
  },
  { what: "503", failure: { status: 503 }, is: StoreUnavailableError, says: /^store unavailable \(503\)$/ },
  {
    what: "a block Azure found damaged in transit",
    op: "put",
    failure: { status: 400, code: "Md5Mismatch" },
    is: StoreUnavailableError,
    says: /^the bytes arrived damaged \(400 Md5Mismatch\); sending them again may succeed$/,
  },
  {
    what: "a CRC64 mismatch",
    failure: { status: 400, code: "Crc64Mismatch" },
    is: StoreUnavailableError,
    says: /^the bytes arrived damaged/,
  },
  {
    what: "any other 4xx",
    failure: { status: 400, code: "InvalidArgument", message: "bad range" },
    is: StoreAccessError,
    says: /^refused \(400 InvalidArgument bad range\)$/,
  },
  {
    what: "a key OpenSSL cannot read (a damaged service-account key file)",
    failure: { code: "ERR_OSSL_UNSUPPORTED", message: "error:1E08010C:DECODER routines::unsupported" },
    is: StoreAccessError,
    says: /^the credentials cannot be used \(ERR_OSSL_UNSUPPORTED .*\)\. Fix: check the key/,
  },
];

describe("storeError", () => {
  it.each(CASES)("$what → $is.name", ({ failure, op = "get", is, says }) => {
    const cause = new Error("from the SDK");
    const err = storeError(STORE, op, KEY, failure, cause);
    expect(err).toBeInstanceOf(is);
    // Only a store that may come back is worth a retry; everything else fails the same way again.
    expect(isRetryable(err)).toBe(is === StoreUnavailableError);
    const prefix = `${op} gcp (gcs bucket ferry-train, key ${KEY}): `;
    expect(err.message.startsWith(prefix), err.message).toBe(true);
    expect(err.message.slice(prefix.length)).toMatch(says);
    expect(err.cause).toBe(cause);
  });

  it("lets the service's code win over a status: a 503 that says the bucket is missing is not an outage", () => {
    expect(storeError(STORE, "get", KEY, { status: 503, code: "NoSuchBucket" })).toBeInstanceOf(StoreAccessError);
  });

  it("treats a credentials error with a response as what its status says, not as missing credentials", () => {
    const err = storeError(STORE, "get", KEY, { status: 503, code: "CredentialsProviderError" });
    expect(err).toBeInstanceOf(StoreUnavailableError);
  });

  it("names no key when the operation has none (a list, a bucket check)", () => {
    const err = storeError(STORE, "list", undefined, { status: 403 });
    expect(err.message).toMatch(/^list gcp \(gcs bucket ferry-train\): access denied/);
  });

  it("redacts credentials from the service's message it quotes", () => {
    const err = storeError(STORE, "get", KEY, {
      status: 403,
      code: "AuthenticationFailed",
      message: "Server failed to authenticate https://acct.blob.core.windows.net/c/k?sv=2024&sig=TOPSECRET",
    });
    expect(err.message).not.toContain("TOPSECRET");
    expect(err.message).toContain("https://acct.blob.core.windows.net/c/k?<redacted>");
    expect(err.message.startsWith(`${AT}: access denied (403 AuthenticationFailed Server failed`)).toBe(true);
  });
});

const SECRET = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const TOKEN = "ya29.a0AfH6SMBx-Secret_Token.value";

/** Each form a credential takes in an SDK or server message; `secret` is what must not survive. */
const FORMS: Array<{ what: string; text: string; secret: string; kept?: string }> = [
  {
    what: "a signed URL's query (Azure SAS)",
    text: `https://acct.blob.core.windows.net/c/chunks/f/0?sv=2024-05-04&se=2030&sig=${encodeURIComponent(SECRET)}`,
    secret: encodeURIComponent(SECRET),
    kept: "https://acct.blob.core.windows.net/c/chunks/f/0?<redacted>",
  },
  {
    what: "a presigned S3 URL",
    text: `http://127.0.0.1:9000/ferry-aws/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=${TOKEN}`,
    secret: TOKEN,
    kept: "http://127.0.0.1:9000/ferry-aws/k?<redacted>",
  },
  {
    what: "AccountKey= in a connection string",
    text: `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${SECRET};EndpointSuffix=core.windows.net`,
    secret: SECRET,
    kept: "AccountName=acct;AccountKey=<redacted>;EndpointSuffix",
  },
  { what: "sig= outside a URL", text: `sv=2024&sig=${TOKEN}&se=2030`, secret: TOKEN, kept: "sig=<redacted>&se=2030" },
  { what: "X-Amz-Signature=", text: `X-Amz-Signature=${TOKEN}`, secret: TOKEN },
  { what: "X-Amz-Credential=", text: `X-Amz-Credential=${TOKEN}`, secret: TOKEN },
  { what: "X-Amz-Security-Token=", text: `X-Amz-Security-Token=${TOKEN}`, secret: TOKEN },
  { what: "SharedAccessSignature=", text: `SharedAccessSignature=${TOKEN}`, secret: TOKEN },
  { what: "access_token=", text: `access_token=${TOKEN}`, secret: TOKEN },
  { what: "client_secret=", text: `client_secret=${TOKEN}`, secret: TOKEN },
  { what: "an Authorization header with a bare token", text: `Authorization: ${TOKEN}`, secret: TOKEN },
  { what: "an Authorization header with Bearer", text: `Authorization: Bearer ${TOKEN}`, secret: TOKEN },
  { what: "an Authorization header with SharedKey", text: `authorization: SharedKey acct:${SECRET}`, secret: SECRET },
  {
    what: "an Authorization header in JSON",
    text: `{"Authorization":"Bearer ${TOKEN}","Host":"x"}`,
    secret: TOKEN,
    kept: '"Host":"x"',
  },
  {
    what: "an AWS SigV4 Authorization header",
    text:
      "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20300101/eu-west-1/s3/aws4_request, " +
      `SignedHeaders=host, Signature=${TOKEN}`,
    secret: TOKEN,
  },
  { what: "an x-amz-security-token header", text: `x-amz-security-token: ${TOKEN}`, secret: TOKEN },
  { what: "an AWS access key id", text: "key AKIAIOSFODNN7EXAMPLE", secret: "AKIAIOSFODNN7EXAMPLE" },
];

/** The same credential at the start, in the middle and at the end of a message, alone, and twice. */
const positions = (s: string): string[] => [
  s,
  `${s} was refused by the service`,
  `request to gcp failed: ${s} (status 403)`,
  `request to gcp failed: ${s}`,
  `first ${s} then again ${s}\nand on a new line ${s}`,
];

describe("redact", () => {
  it.each(FORMS)("removes $what wherever it stands", ({ text, secret, kept }) => {
    for (const message of positions(text)) {
      const out = redact(message);
      expect(out, message).not.toContain(secret);
      expect(out).toContain("<redacted");
      if (kept) expect(out).toContain(kept);
    }
  });

  it("leaves a message without credentials as it is", () => {
    const plain = "put aws (s3 bucket ferry-aws, key chunks/f1/0-ab): 503 SlowDown Please reduce your request rate";
    expect(redact(plain)).toBe(plain);
    expect(redact("")).toBe("");
  });

  it("keeps the words around a credential, so the message still says what happened", () => {
    const out = redact(`403 AuthorizationFailure: Authorization: Bearer ${TOKEN} is expired, retry later`);
    expect(out).toBe("403 AuthorizationFailure: Authorization: <redacted> is expired, retry later");
  });
});
