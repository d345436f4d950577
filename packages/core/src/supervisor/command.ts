import fs from 'node:fs';
import path from 'node:path';
import { BatonError } from '../errors';

export interface WorkerCommand {
  file: string;
  args: string[];
}

/**
 * Launchers that stand between baton and the app and do not pass on what a worker needs: npm, pnpm
 * and yarn run the script through a shell and consume Node's IPC channel themselves; tsx and nodemon
 * start the app as their own child with fresh stdio, so the sockets at fds 3.. and the channel are lost.
 */
const WRAPPERS: Record<string, string> = {
  npm: 'npm runs your script in a child of its own and keeps the IPC channel; put `baton run -- node server.js` in the start script instead',
  npx: 'npx starts the program as a child of its own and keeps the IPC channel; run the program directly (`baton run -- node ...`)',
  pnpm: 'pnpm runs your script in a child of its own and keeps the IPC channel; put `baton run -- node server.js` in the start script instead',
  yarn: 'yarn runs your script in a child of its own and keeps the IPC channel; put `baton run -- node server.js` in the start script instead',
  tsx: 'tsx starts your app as a child of its own, without the inherited sockets; run `baton run -- node --import tsx server.ts` (one process) instead',
  nodemon:
    'nodemon restarts the app itself and does not pass the sockets on; baton run already restarts and reloads workers',
  'ts-node-dev':
    'ts-node-dev starts your app as a child of its own, without the inherited sockets; use `node --require ts-node/register server.ts`',
};

/**
 * What `baton run -- <command...>` spawns for each worker. A script path (`app.js`) runs with this
 * node; any other program runs as given (a wrapper script must `exec node ...` or run node as a child
 * with its fds and environment, which shells do by default). Refuses known launchers with the fix.
 */
export function resolveWorkerCommand(argv: string[], cwd: string): WorkerCommand {
  const [first, ...rest] = argv;
  if (first === undefined || first === '') {
    throw new BatonError(
      'ERR_BATON_INVALID_OPTION',
      'baton run needs the command to run after --, e.g. `baton run -- node server.js`',
    );
  }
  const base = path.basename(first).replace(/\.(cmd|exe)$/i, '');
  const why = WRAPPERS[base];
  if (why !== undefined) throw new BatonError('ERR_BATON_UNSUPPORTED', `cannot supervise \`${first}\`: ${why}`);
  if (/\.(c|m)?js$/.test(first) && !isExecutable(path.resolve(cwd, first))) {
    return { file: process.execPath, args: argv };
  }
  return { file: first, args: rest };
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
