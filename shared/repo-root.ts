import { resolve } from "node:path";

/** The repository's root folder, where the scripts, node_modules and .cache live, whatever the current directory. */
export const REPO_ROOT = resolve(import.meta.dirname, "..");
