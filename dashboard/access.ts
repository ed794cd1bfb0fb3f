/**
 * Who may read the dashboard and /metrics. On loopback (the default) anyone on the host may, as
 * with the nats-servers' monitoring ports. On any other address a token is required: an
 * `Authorization: Bearer <token>` header (Prometheus' `bearer_token`), or a browser's cookie, set
 * once from `?token=<token>` in the first URL opened (which is then redirected without it, so the
 * token leaves the address bar and the history). Anything else gets 401 and a line saying how.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";

const COOKIE = "ferry_dashboard";

/** Whether `host` is a loopback address, reachable only from this machine. */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/**
 * True when the request may go on. Otherwise it has been answered: 401 without the token, or a
 * redirect that trades `?token=` for the cookie.
 */
export function admit(token: string | undefined, req: IncomingMessage, res: ServerResponse): boolean {
  if (token === undefined) return true;
  const url = new URL(req.url ?? "/", "http://dashboard");
  const offered = url.searchParams.get("token");
  if (offered !== null && same(offered, token)) {
    url.searchParams.delete("token");
    res
      .writeHead(303, {
        location: `${url.pathname}${url.search}`,
        "set-cookie": `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
      })
      .end();
    return false;
  }
  if (same(bearer(req) ?? "", token) || same(cookie(req) ?? "", token)) return true;
  res
    .writeHead(401, { "content-type": "text/plain; charset=utf-8", "www-authenticate": 'Bearer realm="ferry"' })
    .end("this dashboard needs its token: open it once with ?token=<token>, or send Authorization: Bearer <token>\n");
  return false;
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
  return m?.[1];
}

function cookie(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === COOKIE) return decodeURIComponent(value.join("="));
  }
  return undefined;
}

/** Compares in constant time, so the answer's timing tells nothing of the token. */
function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
