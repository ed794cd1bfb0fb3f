import type { Stats } from "node:fs";
import { open, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { InputError } from "../shared/errors.ts";
import { sourceProblem } from "../shared/sources/local-file.ts";

/** A local file that is fit to ingest: exists, is a regular file, and can be read by this user. */
export interface CheckedIngestFile {
  path: string;
  size: number;
}

/** Checks a path before anything is published; throws InputError naming the problem and the fix. */
export async function checkIngestFile(path: string): Promise<CheckedIngestFile> {
  const abs = resolve(path);
  let st: Stats;
  try {
    st = await stat(abs);
  } catch (err) {
    throw new InputError(sourceProblem(abs, (err as NodeJS.ErrnoException).code));
  }
  if (st.isDirectory()) throw new InputError(sourceProblem(abs, "EISDIR"));
  if (!st.isFile()) throw new InputError(`source ${abs} is not a regular file`);
  try {
    const fh = await open(abs, "r");
    await fh.read(Buffer.alloc(1), 0, 1, 0);
    await fh.close();
  } catch (err) {
    throw new InputError(sourceProblem(abs, (err as NodeJS.ErrnoException).code));
  }
  return { path: abs, size: st.size };
}
