import ts from "typescript";
import { describe, expect, it } from "vitest";
import { readSource, sourceFiles } from "./source-files.ts";

/** What "small enough to read in one sitting" means here, at the formatter's 120 columns. */
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 60;

type Sized = { where: string; lines: number };

/** Every function-like node of a file with its line count (declarations, methods, arrows, accessors). */
function functionsOf(file: string, text: string): Sized[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Sized[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ where: `${file}:${start + 1} ${nameOf(node)}`, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** A function's own name, or the name of the variable or property it is assigned to. */
function nameOf(node: ts.SignatureDeclaration): string {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  const parent = node.parent;
  if ((ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) && ts.isIdentifier(parent.name)) {
    return parent.name.text;
  }
  return "(anonymous)";
}

function oversized(): { files: Sized[]; functions: Sized[] } {
  const files: Sized[] = [];
  const functions: Sized[] = [];
  for (const file of [...sourceFiles(), ...sourceFiles(".js")]) {
    const text = readSource(file);
    const lines = text.split("\n").length;
    if (lines > MAX_FILE_LINES) files.push({ where: file, lines });
    functions.push(...functionsOf(file, text).filter((f) => f.lines > MAX_FUNCTION_LINES));
  }
  return { files, functions };
}

const show = (xs: Sized[]) => xs.map((x) => `${x.where}: ${x.lines} lines`).join("\n");

describe("sizes outside the tests", () => {
  const found = oversized();

  it(`no file is over ${MAX_FILE_LINES} lines`, () => {
    expect(found.files, `files to split:\n${show(found.files)}`).toEqual([]);
  });

  it(`no function is over ${MAX_FUNCTION_LINES} lines`, () => {
    expect(found.functions, `functions to split:\n${show(found.functions)}`).toEqual([]);
  });

  it("measures what it should (a counter that saw nothing would pass anything)", () => {
    const sized = functionsOf("x.ts", `function a() {\n${"  f();\n".repeat(70)}}\nconst b = () => 1;\n`);
    expect(sized).toEqual([
      { where: "x.ts:1 a", lines: 72 },
      { where: "x.ts:73 b", lines: 1 },
    ]);
  });
});
