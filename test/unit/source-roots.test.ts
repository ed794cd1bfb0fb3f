import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PoisonMessageError, SourceRefusedError } from "../../shared/errors.ts";
import { openLocalSource } from "../../shared/sources/local-file.ts";
import {
  isInside,
  refusalOf,
  resolvePolicy,
  resolveUnderRoots,
  type SourceRoots,
} from "../../shared/sources/source-roots.ts";

const base = mkdtempSync(join(tmpdir(), "ferry-roots-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const root = join(base, "root");
const home = join(root, "deploy");
const outside = join(base, "outside");
for (const d of [root, home, outside]) mkdirSync(d, { recursive: true });
writeFileSync(join(root, "train.jsonl"), '{"a":1}\n');
writeFileSync(join(outside, "shadow"), "root:secret:...\n");
writeFileSync(join(home, "deployment.json"), "{}");
symlinkSync(join(outside, "shadow"), join(root, "link-out"));
symlinkSync(join(root, "train.jsonl"), join(root, "link-in"));
symlinkSync(outside, join(root, "dir-out"));

const policy: SourceRoots = { cloud: "aws", roots: [root], forbidden: [home] };
const check = async (path: string) => resolveUnderRoots(path, await resolvePolicy(policy));

describe("isInside", () => {
  it.each([
    ["/data/a", "/data", true],
    ["/data", "/data", true],
    ["/data2/a", "/data", false],
    ["/dat", "/data", false],
    ["/data/..x/y", "/data", true],
    ["/etc/shadow", "/", true],
    ["/etc", "/data", false],
  ])("%s inside %s: %s", (path, folder, inside) => {
    expect(isInside(path, folder)).toBe(inside);
  });
});

describe("refusalOf", () => {
  it("names the cloud, its roots and the fix when a path is outside them", () => {
    expect(refusalOf("/etc/shadow", "/etc/shadow", { cloud: "gcp", roots: ["/data", "/tmp"], forbidden: [] })).toBe(
      "source /etc/shadow is outside cloud gcp's source roots (/data, /tmp): refused, nothing was read. " +
        "Fix: put the file under one of them, or add its folder to sourceRoots of cloud gcp in topology.json",
    );
  });

  it("refuses ferry's own folder even under a root", () => {
    expect(
      refusalOf("/data/.ferry/x", "/data/.ferry/x", { cloud: "aws", roots: ["/data"], forbidden: ["/data/.ferry"] }),
    ).toMatch(/inside ferry's own folder \/data\/\.ferry/);
  });
});

describe("resolveUnderRoots", () => {
  it("accepts a file under a root, and a symlink inside a root that points inside it", async () => {
    expect(await check(join(root, "train.jsonl"))).toBe(join(root, "train.jsonl"));
    expect(await check(join(root, "link-in"))).toBe(join(root, "train.jsonl"));
  });

  it("refuses a path outside the roots, naming them", async () => {
    const err = await check(join(outside, "shadow")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceRefusedError);
    expect((err as Error).message).toContain(`outside cloud aws's source roots (${root})`);
  });

  it("refuses a symlink inside a root that points outside, saying where it resolves", async () => {
    await expect(check(join(root, "link-out"))).rejects.toThrow(
      `source ${join(root, "link-out")} (resolves to ${join(outside, "shadow")}) is outside cloud aws's source roots`,
    );
    await expect(check(join(root, "dir-out", "shadow"))).rejects.toThrow(SourceRefusedError);
  });

  it("refuses a .. escape", async () => {
    await expect(check(`${root}/../outside/shadow`)).rejects.toThrow(/outside cloud aws's source roots/);
  });

  it("refuses the deployment's own folder under a root", async () => {
    await expect(check(join(home, "deployment.json"))).rejects.toThrow(/inside ferry's own folder/);
  });

  it("refuses a missing file outside the roots like a present one, and says a missing file inside is missing", async () => {
    await expect(check(join(outside, "nothing-here"))).rejects.toThrow(SourceRefusedError);
    const missing = await check(join(root, "nothing-here")).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(PoisonMessageError);
    expect(missing).not.toBeInstanceOf(SourceRefusedError);
    expect((missing as Error).message).toMatch(/does not exist/);
  });
});

describe("openLocalSource", () => {
  it("reads a file under a root, by ranges", async () => {
    const src = await openLocalSource(join(root, "link-in"), policy);
    const parts: Buffer[] = [];
    for await (const p of src.range(2, 7)) parts.push(Buffer.from(p));
    expect(Buffer.concat(parts).toString()).toBe('a":1}');
    expect(src.size).toBe(8);
    await src.assertUnchanged();
    await src.close();
  });

  it("fails clearly when the file changes after it was opened", async () => {
    const path = join(root, "growing.txt");
    writeFileSync(path, "one\n");
    const src = await openLocalSource(path, policy);
    writeFileSync(path, "one\ntwo\n");
    await expect(src.assertUnchanged()).rejects.toThrow(
      /changed while it was being read \(its size went from 4 to 8\)/,
    );
    await src.close();
  });

  it("refuses a directory and a FIFO as not regular files, without hanging", async () => {
    await expect(openLocalSource(root, policy)).rejects.toThrow(/is a directory/);
    const fifo = join(root, "fifo");
    execFileSync("mkfifo", [fifo]);
    await expect(openLocalSource(fifo, policy)).rejects.toThrow(/is not a regular file/);
  });
});
