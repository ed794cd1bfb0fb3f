/**
 * The dashboard's token, for serving it beyond loopback: FERRY_DASHBOARD_TOKEN when set, else the
 * deployment's own `dashboard.token` (made on first use: 32 random bytes, readable by its owner only).
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const DASHBOARD_TOKEN_FILE = "dashboard.token";

/** The token, and where it came from (never the token itself: that goes in no log line). */
export function dashboardToken(dataDir: string): { token: string; from: string } {
  const fromEnv = process.env.FERRY_DASHBOARD_TOKEN;
  if (fromEnv) return { token: fromEnv, from: "FERRY_DASHBOARD_TOKEN" };
  const file = join(dataDir, DASHBOARD_TOKEN_FILE);
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" });
  return { token: readFileSync(file, "utf8").trim(), from: file };
}
