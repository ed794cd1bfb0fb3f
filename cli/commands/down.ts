import { ConfigError } from "../../shared/errors.ts";
import { becomesTrue } from "../../shared/retry.ts";
import type { Role } from "../../shared/topology/processes.ts";
import { isExiting } from "../../supervisor/proc.ts";
import { isOurProcess, readRunState, removeRunState, SUPERVISOR_MARKER } from "../../supervisor/run-state.ts";
import { parseCommand } from "../args.ts";
import { resolveHome } from "../home.ts";

export const DOWN_HELP = `Usage: ferry down [--home <dir>] [--role hub | --role cloud --cloud <name>]

Stops everything ./ferry up started in the home folder: asks the supervisor to stop (workers, then
leaves, then the hub), and if it is gone, stops the recorded processes itself. Data stays in the home
folder. With --role, it checks that the home runs that role (one host's part of a deployment) first.`;

const GRACE_MS = 15_000;

/** `ferry down`: stop the supervisor and everything it recorded, by process id. */
export async function downCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(
    argv,
    { home: { type: "string" }, role: { type: "string" }, cloud: { type: "string" } },
    false,
  );
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
  checkRole(values.role, values.cloud, state.role, home);
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

/** `--role`/`--cloud` must name what the home runs, so `down --role hub` never stops a cloud by mistake. */
function checkRole(role: string | undefined, cloud: string | undefined, running: Role | undefined, home: string): void {
  if (role === undefined && cloud === undefined) return;
  const asked = role === "cloud" ? `cloud ${cloud ?? "?"}` : (role ?? "every role");
  const runs = running === undefined ? "every role" : running.role === "hub" ? "hub" : `cloud ${running.cloud}`;
  if (asked !== runs) throw new ConfigError(`--role: ${home} runs ${runs}, not ${asked}; nothing stopped`);
}

/** Waits until none of `pids` is ours or still exiting (an exiting process's command line reads empty). */
function waitGone(pids: number[], marker: string, timeoutMs: number): Promise<boolean> {
  return becomesTrue(async () => pids.every((p) => !isOurProcess(p, marker) && !isExiting(p)), {
    timeoutMs,
    intervalMs: 100,
  });
}
