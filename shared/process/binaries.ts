import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../repo-root.ts";

const CACHE_BIN = join(REPO_ROOT, ".cache/bin");

/** The local servers scripts/bootstrap.sh installs, by the environment variable that can override each. */
const TOOLS = {
  versitygw: "FERRY_VERSITYGW",
  "fake-gcs-server": "FERRY_FAKE_GCS_SERVER",
  "toxiproxy-server": "FERRY_TOXIPROXY_SERVER",
  jaeger: "FERRY_JAEGER",
} as const;

export type Tool = keyof typeof TOOLS;

/** Path of a pinned local server: its FERRY_* variable, else the set-up's .cache/bin copy, else its name on PATH. */
export function toolBinary(tool: Tool): string {
  const fromEnv = process.env[TOOLS[tool]];
  if (fromEnv) return fromEnv;
  const cached = join(CACHE_BIN, tool);
  return existsSync(cached) ? cached : tool;
}

/** How to fix a missing tool, for error messages. */
export function toolHint(tool: Tool): string {
  return `run ./ferry once so its set-up builds ${tool} into .cache/bin, or set ${TOOLS[tool]} to its path`;
}
