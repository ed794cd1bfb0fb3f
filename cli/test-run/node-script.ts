import { spawn } from "node:child_process";
import path from "node:path";
import { REPO_ROOT } from "../../shared/repo-root.ts";

export interface ScriptResult {
  code: number;
  /** What it printed, when captured. */
  output: string;
}

/**
 * Runs a package's JS entry (a path under the repository) with this same Node (process.execPath):
 * the .bin shims start with `#!/usr/bin/env node`, which could pick an older system Node.
 */
export function runNodeScript(script: string, args: string[], capture: boolean): Promise<ScriptResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, script), ...args], {
      cwd: REPO_ROOT,
      stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit",
    });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", (err) => resolve({ code: 1, output: `${output}${String(err)}\n` }));
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}
