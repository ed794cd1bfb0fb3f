/**
 * Typed failures. The class decides retry versus dead letter, never the message text.
 * Every message carries its context (cloud, key, file) and never a secret.
 */

/** Base of every error this project throws on purpose. */
export class FerryError extends Error {
  /** Whether trying the same operation again later can succeed. */
  readonly retryable: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration key has a bad value; the message names the key, the value and the fix. */
export class ConfigError extends FerryError {}

/** Input the user gave cannot be used (missing file, directory, malformed request). */
export class InputError extends FerryError {}

/** A store operation failed for a reason that may pass (reset, timeout, 5xx, store down). */
export class StoreUnavailableError extends FerryError {
  override readonly retryable = true;
}

/**
 * A store refuses us for a reason waiting will not fix: bad or missing credentials, no permission,
 * a bucket or container that does not exist. The message names the cloud, bucket and the fix.
 */
export class StoreAccessError extends FerryError {}

/** A store refused a signed URL (HTTP 401/403): it expired, or its signature does not match. A new URL may work. */
export class UrlRefusedError extends StoreAccessError {}

/** A create-only write found an object already under the key. */
export class ObjectExistsError extends FerryError {}

/** The object asked for is not there. */
export class ObjectNotFoundError extends FerryError {}

/** Bytes did not hash to the SHA-256 they were expected to have. */
export class ChecksumMismatchError extends FerryError {
  readonly expected: string;
  readonly actual: string;
  constructor(message: string, expected: string, actual: string) {
    super(`${message}: expected sha256 ${expected}, got ${actual}`);
    this.expected = expected;
    this.actual = actual;
  }
}

/** A message can never be processed (bad payload, corrupt data): it goes to the dead-letter stream. */
export class PoisonMessageError extends FerryError {}

/** A source the worker may not read (outside its cloud's source roots, inside ferry's own folders): nothing was read. */
export class SourceRefusedError extends PoisonMessageError {}

/** A source changed while it was being read (size, mtime, ETag or generation moved): its chunks would not be one file. */
export class SourceChangedError extends PoisonMessageError {}

/** Whether an error is worth a delayed retry. Unknown errors are treated as transient. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof FerryError) return err.retryable;
  return true;
}

/** A short, single-line description of any thrown value, safe for logs and events. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * An event that describes no real work: malformed, or naming a key, cloud or chunk that is not its
 * own. Dead-lettered like any poison message, but without the file id it names, so a forged event
 * cannot fail a real file.
 */
export class UntrustedEventError extends PoisonMessageError {}
