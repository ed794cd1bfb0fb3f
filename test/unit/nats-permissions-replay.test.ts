/**
 * Only the admin identity may publish a replay event (`files.replayed.<cloud>`); a cloud's leaf link
 * carries its own cloud's events, this one included, from the hub to the leaf's stream.
 */
import { describe, expect, it } from "vitest";
import { compileTopology } from "../../shared/topology/config.ts";
import { natsPermissions, type SubjectRules } from "../../shared/topology/nats-permissions.ts";

/** NATS subject matching: `*` one token, `>` the rest. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

const mayPublish = (r: SubjectRules, subject: string): boolean =>
  r.allow.some((a) => matches(a, subject)) && !(r.deny ?? []).some((d) => matches(d, subject));

describe("the replay event's permissions", () => {
  const t = compileTopology({ clouds: [{ name: "aws" }, { name: "gcp" }, { name: "azure" }] });
  const rules = natsPermissions(t);

  it.each(["aws", "gcp", "azure"])(
    "files.replayed.%s: admin publishes it, and only its leaf link carries it",
    (cloud) => {
      const publishers = rules.filter((r) => mayPublish(r.publish, `files.replayed.${cloud}`)).map((r) => r.identity);
      expect(publishers.sort()).toEqual(["admin", `leaf-${cloud}`]);
    },
  );

  it("is refused to the cli identity by name", () => {
    const cli = rules.find((r) => r.identity === "cli");
    expect(cli?.publish.deny).toContain("files.replayed.*");
  });
});
