import { type FileHandle, open } from "node:fs/promises";
import { PoisonMessageError } from "../errors.ts";

/** Opens a source file for reading; a missing, unreadable or non-regular file is a clear, final error. */
export async function openSource(path: string): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw new PoisonMessageError(sourceProblem(path, (err as NodeJS.ErrnoException).code), { cause: err });
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new PoisonMessageError(
      st.isDirectory()
        ? `source ${path} is a directory: ingest the files inside it`
        : `source ${path} is not a regular file`,
    );
  }
  return { fh, size: st.size };
}

/** The message for an open() failure, naming the problem and the fix. */
export function sourceProblem(path: string, code: string | undefined): string {
  switch (code) {
    case "ENOENT":
      return `source ${path} does not exist: check the path`;
    case "EACCES":
    case "EPERM":
      return `source ${path} is not readable: permission denied (grant read access to the user running ferry)`;
    case "EISDIR":
      return `source ${path} is a directory: ingest the files inside it`;
    default:
      return `source ${path} cannot be opened (${code ?? "unknown error"})`;
  }
}
