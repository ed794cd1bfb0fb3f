/** docker-compose.yml as text: the model in block YAML, each service under its comment. */
import type { ComposeModel } from "./compose-services.ts";

/** The model as docker-compose.yml, the `header` lines as comments on top. */
export function renderComposeYaml(m: ComposeModel, comments: Record<string, string>, header: string[]): string {
  const out = [...header.map((l) => `# ${l}`), `name: ${yamlScalar(m.name)}`, "", "services:"];
  for (const [i, [name, service]] of Object.entries(m.services).entries()) {
    if (i > 0) out.push("");
    const comment = comments[name];
    if (comment) out.push(`  # ${comment}`);
    out.push(`  ${yamlKey(name)}:`, ...yamlBlock(service, 2));
  }
  out.push("", "volumes:", ...yamlBlock(m.volumes, 1));
  return `${out.join("\n")}\n`;
}

/** Lists that are an argv read best on one line; other lists (ports, volumes) one item a line. */
const FLOW_LISTS = new Set(["command", "test"]);

/**
 * Plain data as block YAML, `level` two-space steps deep; lists hold scalars only. Every string is
 * double-quoted, so nothing is read as a number, boolean or null ("127.0.0.1:4222:4222" is a base-60
 * number to YAML 1.1 readers).
 */
export function yamlBlock(value: object, level: number): string[] {
  const pad = "  ".repeat(level);
  const lines: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const key = `${pad}${yamlKey(k)}:`;
    if (Array.isArray(v)) {
      const items = v.map((item) => yamlScalar(item));
      if (items.length === 0 || FLOW_LISTS.has(k)) lines.push(`${key} [${items.join(", ")}]`);
      else lines.push(key, ...items.map((item) => `${pad}  - ${item}`));
    } else if (typeof v === "object" && v !== null) {
      lines.push(Object.keys(v).length === 0 ? `${key} {}` : key, ...yamlBlock(v, level + 1));
    } else {
      lines.push(`${key} ${yamlScalar(v)}`);
    }
  }
  return lines;
}

function yamlKey(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k) ? k : yamlScalar(k);
}

function yamlScalar(v: unknown): string {
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "boolean") return String(v);
  if (typeof v !== "string") throw new Error(`yaml: cannot render ${JSON.stringify(v)} as a scalar`);
  // JSON's escapes are valid in YAML double quotes; YAML 1.1 also reads NEL/LS/PS as line breaks, so escape them.
  // `$` is doubled because compose interpolates ${VAR} in every value.
  return JSON.stringify(v.replaceAll("$", "$$$$")).replace(
    /[\u0085\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
