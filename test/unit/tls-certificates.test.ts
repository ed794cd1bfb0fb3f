/** The deployment's CA and server certificates, made with the real openssl; bad set-ups fail naming the fix. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../shared/errors.ts";
import { issueServerCert } from "../../shared/tls/certificates.ts";
import { ensureCaIn, serverHosts } from "../../shared/tls/deployment-tls.ts";
import { compileTopology } from "../../shared/topology/config.ts";
import { layoutDeployment, separateHostsPorts } from "../../shared/topology/layout.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-tls-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.FERRY_OPENSSL;
});

const sans = (cert: string): string =>
  execFileSync("openssl", ["x509", "-in", cert, "-noout", "-ext", "subjectAltName"]).toString();

describe("the deployment's CA", () => {
  it("is made once, owner-only, and reused as it is", () => {
    const tls = join(dir, "a", "tls");
    const ca = ensureCaIn(tls);
    expect(statSync(tls).mode & 0o777).toBe(0o700);
    expect(statSync(ca.keyFile).mode & 0o777).toBe(0o600);
    const first = readFileSync(ca.certFile, "utf8");
    expect(readFileSync(ensureCaIn(tls).certFile, "utf8")).toBe(first);
  });

  it("signs a server certificate for every name and address given, which openssl verifies", () => {
    const ca = ensureCaIn(join(dir, "b"));
    const out = { certFile: join(dir, "b", "hub.pem"), keyFile: join(dir, "b", "hub-key.pem") };
    issueServerCert(ca, out, "hub", ["localhost", "127.0.0.1", "hub-a.example"]);
    expect(sans(out.certFile)).toContain("DNS:localhost, IP Address:127.0.0.1, DNS:hub-a.example");
    expect(execFileSync("openssl", ["verify", "-CAfile", ca.certFile, out.certFile]).toString()).toContain(": OK");
  });

  it("refuses a CA certificate without its key, naming both files", () => {
    const ca = ensureCaIn(join(dir, "c"));
    unlinkSync(ca.keyFile);
    expect(() => ensureCaIn(join(dir, "c"))).toThrow(ConfigError);
    expect(() => ensureCaIn(join(dir, "c"))).toThrow(/ca\.pem exists without its pair .*delete both to make a new CA/);
  });

  it("says how to get openssl when it is missing", () => {
    process.env.FERRY_OPENSSL = join(dir, "no-such-openssl");
    expect(() => ensureCaIn(join(dir, "d"))).toThrow(/openssl command was not found .*apt-get install openssl/);
  });
});

describe("topology tls", () => {
  it("takes the operator's CA, and names a missing file and the fix", () => {
    const ca = ensureCaIn(join(dir, "e"));
    const t = compileTopology({ clouds: [{ name: "aws" }], tls: { ca: ca.certFile, key: ca.keyFile } });
    expect(t.tls).toEqual({ caFile: ca.certFile, keyFile: ca.keyFile });
    const missing = () =>
      compileTopology({ clouds: [{ name: "aws" }], tls: { ca: join(dir, "nope.pem"), key: ca.keyFile } });
    expect(missing).toThrow(/^tls\.ca: .*nope\.pem does not exist: fix the path, or remove "tls"/);
    expect(() => compileTopology({ clouds: [{ name: "aws" }], tls: { ca: ca.certFile } })).toThrow(
      /^tls\.key: expected/,
    );
  });

  it("names each hub node's address among the hosts of its certificate", () => {
    const t = compileTopology({
      hub: { nodes: 3, addresses: ["h1.example", "h2.example", "10.0.0.3"] },
      clouds: [{ name: "aws" }],
    });
    const d = layoutDeployment(t, join(dir, "f"), separateHostsPorts(t));
    expect(serverHosts(d, d.hubNodes[2]!)).toEqual(["localhost", "127.0.0.1", "hub-3", "10.0.0.3"]);
    expect(serverHosts(d, d.leaves.aws!)).toEqual(["localhost", "127.0.0.1", "aws"]);
  });
});
