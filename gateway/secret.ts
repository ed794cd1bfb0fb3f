import { randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../shared/errors.ts";

/** `<dataDir>/gateway-<cloud>.key`: the secret an fs face signs its URLs with. */
export const gatewaySecretPath = (dataDir: string, cloud: string): string => join(dataDir, `gateway-${cloud}.key`);

/**
 * The deployment's secret for `cloud`'s fs face: made (32 random bytes, owner-only 0600) by the
 * first gateway to start, then read by every later one, so URLs outlive a gateway restart. A file
 * that others may read is refused: its URLs could be forged.
 */
export function readOrCreateSecret(path: string): Buffer {
  try {
    const fd = openSync(path, "wx", 0o600);
    try {
      writeSync(fd, randomBytes(32).toString("hex"));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  if ((statSync(path).mode & 0o077) !== 0) {
    throw new ConfigError(
      `gateway secret ${path} is readable by others. Fix: chmod 600 ${path} (or delete it to make a new one)`,
    );
  }
  const secret = Buffer.from(readFileSync(path, "utf8").trim(), "hex");
  if (secret.length < 32)
    throw new ConfigError(`gateway secret ${path} is damaged. Fix: delete it; the gateway makes a new one`);
  return secret;
}
