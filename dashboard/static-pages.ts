/**
 * The dashboard's own files (page, scripts, style, the trace page), read once when it starts, and the
 * headers they are served with.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const PUBLIC = join(import.meta.dirname, "public");
const STATIC: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/dom.js": { file: "dom.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
  "/trace.js": { file: "trace.js", type: "text/javascript; charset=utf-8" },
};
/** The trace page, served for every `/trace/<traceId>`: its script reads the id from the address. */
const TRACE_PAGE = { file: "trace.html", type: "text/html; charset=utf-8" };
/** The page loads only its own script and style and talks only to its own server. */
export const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export interface StaticPage {
  body: Buffer;
  type: string;
}

/** The file served at a path, if one is. */
export type StaticPages = (path: string) => StaticPage | undefined;

/** Reads every static file now, so a missing one fails the start rather than a request. */
export function loadStaticPages(): StaticPages {
  const pages = Object.fromEntries(
    Object.entries(STATIC).map(([path, s]) => [path, { body: readFileSync(join(PUBLIC, s.file)), type: s.type }]),
  );
  const tracePage = { body: readFileSync(join(PUBLIC, TRACE_PAGE.file)), type: TRACE_PAGE.type };
  return (path) => pages[path] ?? (path.startsWith("/trace/") ? tracePage : undefined);
}
