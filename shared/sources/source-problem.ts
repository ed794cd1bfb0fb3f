/** The message for a failure to open or resolve a local source, naming the problem and the fix. */
export function sourceProblem(path: string, code: string | undefined): string {
  switch (code) {
    case "ENOENT":
      return `source ${path} does not exist: check the path`;
    case "EACCES":
    case "EPERM":
      return `source ${path} is not readable: permission denied (grant read access to the user running ferry)`;
    case "EISDIR":
      return `source ${path} is a directory: ingest the files inside it`;
    case "ELOOP":
      return `source ${path} was replaced by a symbolic link while it was opened: refused, nothing was read`;
    default:
      return `source ${path} cannot be opened (${code ?? "unknown error"})`;
  }
}
