import fs from 'node:fs';
import path from 'node:path';

/**
 * How the operator started this process, as they said it rather than as the kernel resolved it, so
 * the next generation starts the way the first one did: from `/srv/app/current` (a symlink a deploy
 * switches) and not from `releases/1`, which it pointed at then; with the environment the process
 * was started with, so a changed `.env` applies and nothing the app added to process.env piles up.
 */

/**
 * The working directory as the operator named it: the shell's PWD when it is absolute and names the
 * same directory as the kernel's cwd (symlinks resolved); the kernel's cwd otherwise.
 */
export function logicalCwd(
  env: NodeJS.ProcessEnv,
  physicalCwd: string,
  realpath: (p: string) => string = fs.realpathSync,
): string {
  const pwd = env.PWD;
  if (pwd === undefined || !path.isAbsolute(pwd) || pwd === physicalCwd) return physicalCwd;
  try {
    return realpath(pwd) === realpath(physicalCwd) ? pwd : physicalCwd;
  } catch {
    return physicalCwd;
  }
}

/**
 * The script argument exactly as it was given on the command line (`server.js`, `./dist/main.js`),
 * from /proc/self/cmdline, when it is the one Node runs (argv[1]). Node made argv[1] absolute from
 * the kernel's cwd, through any symlink in it; the given form re-resolves at every reload.
 */
export function scriptAsGiven(
  cmdline: readonly string[],
  execArgv: readonly string[],
  argv: readonly string[],
  physicalCwd: string,
): string | undefined {
  const index = 1 + execArgv.length;
  const given = cmdline[index];
  const script = argv[1];
  if (given === undefined || script === undefined || cmdline.length !== index + argv.length - 1) return undefined;
  return path.resolve(physicalCwd, given) === script ? given : undefined;
}

/** Variables Node sets for a child's IPC channel or cluster role: never passed on from the initial environment. */
const NODE_PRIVATE = ['NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'NODE_UNIQUE_ID'];

/** Parses /proc/<pid>/environ (NUL-separated NAME=value), leaving out Node's private variables. */
export function parseEnviron(text: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (!NODE_PRIVATE.includes(name)) env[name] = entry.slice(eq + 1);
  }
  return env;
}

/** /proc/self/cmdline and /proc/self/environ as they were at exec time; undefined off Linux. */
export function readProcSelf(proc = '/proc/self'): { cmdline: string[]; environ: NodeJS.ProcessEnv } | undefined {
  try {
    const cmdline = fs.readFileSync(`${proc}/cmdline`, 'utf8').split('\0');
    if (cmdline[cmdline.length - 1] === '') cmdline.pop();
    return { cmdline, environ: parseEnviron(fs.readFileSync(`${proc}/environ`, 'utf8')) };
  } catch {
    return undefined;
  }
}
