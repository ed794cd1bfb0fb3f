import { describe, expect, it } from "vitest";
import { STORE_KINDS } from "../../shared/stores/registry.ts";
import { readSource, sourceFiles } from "./source-files.ts";

/**
 * Keeps the store registry honest: code outside a kind's own folder (shared/stores/<kind>/) and the
 * registry must not decide anything by a kind's name. Such a switch is a place a new kind would
 * have to be added by hand, which the registry exists to prevent: ask the kind's descriptor instead.
 * Building a value of a kind (`{ kind: "fs" }` as a default) is fine; comparing, switching, listing
 * kinds in a union or an array, or keying a table by them is not.
 */
const REGISTRY = "shared/stores/registry.ts";

function patterns(name: string): RegExp[] {
  const q = `["'\`]${name}["'\`]`;
  const anyKind = `["'\`](?:${STORE_KINDS.map((k) => k.name).join("|")})["'\`]`;
  return [
    new RegExp(`\\bcase\\s+${q}\\s*:`), // switch (spec.kind) { case "s3": ... }
    new RegExp(`[!=]==?\\s*${q}`), // spec.kind === "s3"
    new RegExp(`${q}\\s*[!=]==?`), // "s3" !== spec.kind
    new RegExp(`${q}\\s*\\||\\|\\s*${q}`), // kind: "s3" | "gcs"
    new RegExp(`${q}\\s*,\\s*${anyKind}|${anyKind}\\s*,\\s*${q}`), // ["s3", "gcs"].includes(kind)
    new RegExp(`^\\s*["']?${name}["']?\\s*:\\s*[^\\s"'\`]`, "m"), // { s3: startS3, gcs: startGcs }
  ];
}

/** `file:line: text` for every line of `source` that decides something by the name of a kind not its own. */
function strayKindSwitches(file: string, source: string): string[] {
  if (file === REGISTRY) return [];
  const found: string[] = [];
  for (const [i, line] of source.split("\n").entries()) {
    if (/^\s*(\/\/|\*|\/\*)/.test(line)) continue; // comments may name kinds
    for (const { name } of STORE_KINDS) {
      if (file.startsWith(`shared/stores/${name}/`)) continue;
      if (patterns(name).some((re) => re.test(line))) found.push(`${file}:${i + 1}: ${line.trim()}`);
    }
  }
  return found;
}

describe("store kinds", () => {
  it("are switched on only in their own folder and in the registry", () => {
    const stray = sourceFiles().flatMap((file) => strayKindSwitches(file, readSource(file)));
    expect(
      stray,
      `decisions by kind name outside its folder; ask the kind's descriptor instead:\n${stray.join("\n")}`,
    ).toEqual([]);
  });

  it("each have a folder whose descriptor the registry lists", () => {
    const files = sourceFiles();
    for (const { name } of STORE_KINDS) expect(files).toContain(`shared/stores/${name}/kind.ts`);
  });

  it("reports a switch, a comparison, a union, a list and a table of kinds, but not a value of one", () => {
    const source = [
      'switch (spec.kind) { case "s3": break; }',
      'if (spec.kind !== "fs") return;',
      'const local = "azblob" === kind;',
      'type Local = "s3" | "gcs";',
      'if (["gcs", "azblob"].includes(kind)) return;',
      "  s3: startLocalS3Server,",
      'const fallback = { kind: "fs" };',
      '// a comment may say case "s3":',
    ].join("\n");
    expect(strayKindSwitches("cli/example.ts", source).map((l) => l.split(":")[1])).toEqual([
      "1",
      "2",
      "3",
      "4",
      "4",
      "5",
      "5",
      "6",
    ]);
    expect(strayKindSwitches("shared/stores/s3/example.ts", 'if (spec.kind === "s3") return;')).toEqual([]);
    expect(strayKindSwitches("shared/stores/gcs/example.ts", 'if (spec.kind === "s3") return;')).toHaveLength(1);
  });
});
