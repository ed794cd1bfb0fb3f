import { realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { PoisonMessageError, SourceRefusedError } from "../errors.ts";
import { isFsOpenSpec } from "../stores/fs/kind.ts";
import type { ClientView } from "../topology/client-view.ts";
import { sourceProblem } from "./source-problem.ts";

/** Where a cloud's ingest workers may read local files from, and what they must never read. */
export interface SourceRoots {
  cloud: string;
  /** Absolute folders; a file is accepted only under one of them (after symlinks and `..` are resolved). */
  roots: readonly string[];
  /** Absolute folders never read even under a root: the deployment's own folder, fs stores. */
  forbidden: readonly string[];
}

/**
 * The policy of `cloud` in a deployment: its configured source roots; never the deployment's own
 * folder nor an fs store's folder, even when a root holds them.
 */
export function sourcePolicy(d: ClientView & { dataDir?: string }, cloud: string): SourceRoots {
  const spec = d.topology.clouds.find((c) => c.name === cloud);
  const fsRoots = Object.values(d.stores).flatMap((s) => (isFsOpenSpec(s) ? [s.root] : []));
  // A client that reached the deployment through the hub has no home folder of it to protect here;
  // the worker checks again with its own.
  const home = d.dataDir === undefined ? [] : [d.dataDir];
  return { cloud, roots: spec?.sourceRoots ?? [], forbidden: [...home, ...fsRoots] };
}

/** Whether `path` is `folder` itself or inside it; both absolute and normalised. */
export function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === "" || (rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel));
}

/**
 * The pure rule: `real` (a resolved path) is accepted when it is under a root and under no forbidden
 * folder. Returns the reason for a refusal, or undefined when accepted.
 */
export function refusalOf(asked: string, real: string, policy: SourceRoots): string | undefined {
  const shown = asked === real ? asked : `${asked} (resolves to ${real})`;
  const forbidden = policy.forbidden.find((f) => isInside(real, f));
  if (forbidden !== undefined)
    return `source ${shown} is inside ferry's own folder ${forbidden}: refused, nothing was read`;
  if (!policy.roots.some((r) => isInside(real, r))) {
    const roots = policy.roots.length === 0 ? "none configured" : policy.roots.join(", ");
    return (
      `source ${shown} is outside cloud ${policy.cloud}'s source roots (${roots}): refused, nothing was read. ` +
      `Fix: put the file under one of them, or add its folder to sourceRoots of cloud ${policy.cloud} in topology.json`
    );
  }
  return undefined;
}

/** The policy with its roots and forbidden folders resolved, so a root reached through a symlink (/tmp on some systems) still matches. */
export async function resolvePolicy(policy: SourceRoots): Promise<SourceRoots> {
  return {
    cloud: policy.cloud,
    roots: await Promise.all(policy.roots.map(realOrSelf)),
    forbidden: await Promise.all(policy.forbidden.map(realOrSelf)),
  };
}

/**
 * Resolves `path` (symlinks, `..`) and returns its real path when `policy` (resolved) accepts it;
 * otherwise throws SourceRefusedError naming the roots. Nothing of the file is opened or read.
 */
export async function resolveUnderRoots(path: string, policy: SourceRoots): Promise<string> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    // A path that does not resolve is judged as written, so a missing file outside the roots is
    // refused like a present one: the answer says nothing about what exists there.
    const reason = refusalOf(path, resolve(path), policy);
    if (reason !== undefined) throw new SourceRefusedError(reason, { cause: err });
    throw new PoisonMessageError(sourceProblem(path, (err as NodeJS.ErrnoException).code), { cause: err });
  }
  const reason = refusalOf(path, real, policy);
  if (reason !== undefined) throw new SourceRefusedError(reason);
  return real;
}

async function realOrSelf(folder: string): Promise<string> {
  return realpath(folder).catch(() => resolve(folder));
}
