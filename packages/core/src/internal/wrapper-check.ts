import fs from 'node:fs';

/**
 * An in-place reload replaces this process with a new one (a new PID), as endless does.
 * Whatever watches this PID loses track of the service. Say so once, at start-up, with the fix.
 */
export function wrapperWarning(env: NodeJS.ProcessEnv, pid: number, ppid: number, hasPidFile: boolean): string | undefined {
  const fix = 'run `baton run -- node <script>` (supervised mode, one stable PID) or start node directly';
  if (pid === 1) {
    return `running as PID 1 (a container?): when an in-place reload hands over, this process exits and the container stops; ${fix}`;
  }
  if (env.npm_lifecycle_event !== undefined) {
    const runner = (env.npm_config_user_agent ?? 'npm').split('/')[0];
    return `started by \`${runner} run ${env.npm_lifecycle_event}\`: ${runner} does not forward SIGHUP and exits when this process hands over; ${fix}`;
  }
  const parent = parentCommand(ppid);
  if (parent && /(^|\/)(tsx|ts-node|nodemon)(\.js|\.cjs|\.mjs)?(\s|$)|\/tsx\/dist\//.test(parent)) {
    return `started by a wrapper (${parent.split(' ')[0]}): it does not forward SIGHUP and exits when this process hands over; ${fix}`;
  }
  if (env.INVOCATION_ID !== undefined && !hasPidFile) {
    return 'running under systemd without a pid file: the PID changes on reload; set BATON_PID_FILE and PIDFile= (see examples/systemd), or use `baton run`';
  }
  return undefined;
}

function parentCommand(ppid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return undefined;
  }
}
