import fs from 'node:fs';

/**
 * An in-place reload replaces this process with a new one (a new PID), as endless does.
 * Whatever watches this PID loses track of the service. Say so once, at start-up, with the fix.
 */
export function wrapperWarning(
  env: NodeJS.ProcessEnv,
  pid: number,
  ppid: number,
  hasPidFile: boolean,
): string | undefined {
  const fix = 'run `baton run -- node <script>` (supervised mode, one stable PID) or start node directly';
  if (pid === 1) {
    return `running as PID 1 (a container?): when an in-place reload hands over, this process exits and the container stops; ${fix}`;
  }
  const parent = parentCommand(ppid);
  // npm_* variables pass down to every descendant of a script (a test runner's servers too), so they
  // only count when the parent is the package manager or the `sh -c <script>` it runs scripts with.
  if (
    env.npm_lifecycle_event !== undefined &&
    parent !== undefined &&
    isScriptRunner(parent, env.npm_lifecycle_script)
  ) {
    const runner = (env.npm_config_user_agent ?? 'npm').split('/')[0];
    return `started by \`${runner} run ${env.npm_lifecycle_event}\`: ${runner} does not forward SIGHUP and exits when this process hands over; ${fix}`;
  }
  if (parent && /(^|\/)(tsx|ts-node|nodemon)(\.js|\.cjs|\.mjs)?(\s|$)|\/tsx\/dist\//.test(parent)) {
    return `started by a wrapper (${parent.split(' ')[0]}): it does not forward SIGHUP and exits when this process hands over; ${fix}`;
  }
  if (env.INVOCATION_ID !== undefined && !hasPidFile) {
    return 'running under systemd without a pid file: the PID changes on reload; set BATON_PID_FILE and PIDFile= (see examples/systemd), or use `baton run`';
  }
  return undefined;
}

function isScriptRunner(parent: string, script: string | undefined): boolean {
  if (/(^|\/)(npm|pnpm|yarn)(-cli)?(\.js|\.cjs|\.mjs)?(\s|$)|\/(npm|pnpm|yarn)\/(bin|dist)\//.test(parent)) return true;
  return script !== undefined && /^(\/bin\/|\/usr\/bin\/)?sh -c /.test(parent) && parent.endsWith(script);
}

function parentCommand(ppid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${ppid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return undefined;
  }
}
