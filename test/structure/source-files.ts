import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { REPO_ROOT } from "../../shared/repo-root.ts";

/** Top-level folders that hold the project's TypeScript (tests excluded). */
export const SOURCE_FOLDERS = [
  "shared",
  "observability",
  "streams",
  "runtime",
  "stages",
  "orchestrator",
  "dashboard",
  "client",
  "gateway",
  "supervisor",
  "chaos",
  "bench",
  "cli",
] as const;

/** Every file with `extension` under the source folders, as paths relative to the repository root. */
export function sourceFiles(extension = ".ts"): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(extension)) out.push(relative(REPO_ROOT, path));
    }
  };
  for (const folder of SOURCE_FOLDERS) walk(join(REPO_ROOT, folder));
  return out.sort();
}

export function readSource(file: string): string {
  return readFileSync(join(REPO_ROOT, file), "utf8");
}
