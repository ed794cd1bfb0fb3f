import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A stray .only must never pass for a green run, on CI or off it.
    allowOnly: false,
    // Tests start real servers (nats-server, storage emulators): generous timeouts.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // One file at a time in child processes: the machine has 2 cores, and server-starting
    // tests running side by side would starve each other and flake.
    pool: "forks",
    fileParallelism: false,
  },
});
