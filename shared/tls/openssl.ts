/** Runs Debian's `openssl` command line tool: the one X.509 implementation ferry uses (no hand-made ASN.1). */
import { execFileSync } from "node:child_process";
import { ConfigError } from "../errors.ts";

/** The openssl binary: `$FERRY_OPENSSL`, else `openssl` on PATH. */
export function opensslBinary(): string {
  return process.env.FERRY_OPENSSL || "openssl";
}

/**
 * Runs `openssl <args>` and returns its stdout. A missing binary or a failed command is a ConfigError
 * naming what was being made and the fix; openssl's own message (never a key: keys go to files) is kept.
 */
export function openssl(what: string, args: string[]): string {
  const bin = opensslBinary();
  try {
    return execFileSync(bin, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT")
      throw new ConfigError(
        `${what}: the openssl command was not found (${bin}): install it (Debian: apt-get install openssl) or set FERRY_OPENSSL to its path`,
        { cause: err },
      );
    const detail = (e.stderr ?? "").trim().split("\n").slice(-3).join("; ") || e.message;
    throw new ConfigError(`${what}: openssl failed: ${detail}`, { cause: err });
  }
}
