import { becomesTrue } from "../../shared/retry.ts";
import { isOurProcess, readRunState, removeRunState, SUPERVISOR_MARKER } from "../../supervisor/run-state.ts";
import { parseCommand } from "../args.ts";
import { resolveHome } from "../home.ts";

export const DOWN_HELP = `Usage: ferry down [--home <dir>]

Stops everything ./ferry up started: asks the supervisor to stop (workers, then leaves, then the hub),
and if it is gone, stops the recorded processes itself. Data stays in the home folder.`;

const GRACE_MS = 15_000;

/** `ferry down`: stop the supervisor and everything it recorded, by process id. */
export async function downCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, { home: { type: "string" } }, false);
  if (values.help) {
    process.stdout.write(`${DOWN_HELP}\n`);
    return 0;
  }
  const home = resolveHome(values.home);
  const state = readRunState(home);
  if (!state) {
    process.stdout.write(`ferry is not running in ${home}\n`);
    return 0;
  }
  if (isOurProcess(state.supervisorPid, SUPERVISOR_MARKER)) {
    process.kill(state.supervisorPid, "SIGTERM");
    await waitGone([state.supervisorPid], SUPERVISOR_MARKER, GRACE_MS);
  }
  // Whatever is still alive (the supervisor was killed, or did not finish): stop it directly.
  const left = Object.values(state.pids).filter((pid) => isOurProcess(pid, home));
  for (const pid of left) process.kill(pid, "SIGTERM");
  if (!(await waitGone(left, home, 5000))) {
    for (const pid of left) if (isOurProcess(pid, home)) process.kill(pid, "SIGKILL");
    await waitGone(left, home, 5000);
  }
  const survivors = [
    ...(isOurProcess(state.supervisorPid, SUPERVISOR_MARKER) ? [state.supervisorPid] : []),
    ...left.filter((pid) => isOurProcess(pid, home)),
  ];
  removeRunState(home);
  if (survivors.length > 0) {
    process.stderr.write(`ferry down: processes ${survivors.join(", ")} would not stop\n`);
    return 1;
  }
  process.stdout.write("ferry is down\n");
  return 0;
}

function waitGone(pids: number[], marker: string, timeoutMs: number): Promise<boolean> {
  return becomesTrue(async () => pids.every((p) => !isOurProcess(p, marker)), { timeoutMs, intervalMs: 100 });
}
