/** The seeded drills' input: files of random bytes. */
import { join } from "node:path";
import { writeRandomFile } from "../shared/sample-data.ts";

/** `count` files of random bytes. */
export async function generateFiles(dir: string, count: number, size: number): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const path = join(dir, `shard-${String(i).padStart(5, "0")}.bin`);
    await writeRandomFile(path, size);
    paths.push(path);
  }
  return paths;
}
