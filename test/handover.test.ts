// Two handover invariants, each checked directly: the pid file changes when the successor is ready and
// not before (invariant 5), and a successor closes the inherited sockets its code no longer listens on
// (invariant 6), as /proc shows its descriptors.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { request } from './helpers/http';
import {
  FIXTURES,
  killAll,
  readPid,
  rememberPid,
  startServer,
  tempDir,
  waitFor,
  waitForPidFileChange,
  type Server,
} from './helpers/processes';
import { DEPLOYED_ENV, exitOf, sleep, successorPidsFromLog, waitForOutput, writeBuild } from './helpers/service';

const APP = path.join(FIXTURES, 'app.js');
/** No rollback window after a reload: the old generation drains and exits once its successor is ready. */
const NO_SETTLE = { BATON_SETTLE_MS: '0' };

afterEach(killAll);

/** Runs `body`; a failure carries the output of every generation, to say what happened. */
async function explained(server: Server, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof Error) error.message += `\n\noutput of every generation:\n${server.output()}`;
    throw error;
  }
}

/** The fixture's own `listening <port>` lines (not `also listening`), in order. */
function mainPorts(output: string): number[] {
  return [...output.matchAll(/^listening (\d+)$/gm)].map((m) => Number(m[1]));
}

test('the pid file names the old generation until its successor is ready, then the successor', async () => {
  const dir = tempDir();
  const pidFile = path.join(dir, 's.pid');
  const readyFile = path.join(dir, 'ready-now');
  writeBuild(dir, '1.0');
  const server = startServer(APP, {
    ...DEPLOYED_ENV,
    ...NO_SETTLE,
    BUILD_DIR: dir,
    BATON_PID_FILE: pidFile,
    READY_FILE: readyFile,
  });
  await explained(server, async () => {
    await waitForOutput(server, /serving on /);
    expect(readPid(pidFile)).toBe(server.pid);

    // The next build listens at once but is ready only when the test creates READY_FILE.
    writeBuild(dir, '1.1', 'ready-on-file');
    process.kill(server.pid, 'SIGHUP');
    const output = await waitFor('the successor to be listening', () => {
      const text = server.output();
      return mainPorts(text).length >= 2 ? text : undefined;
    });
    const [successor] = successorPidsFromLog(output);
    expect(successor).toBeDefined();

    // Listening, not ready: the pid file must not move, however long the app takes.
    const seen = new Set<string>();
    const until = Date.now() + 600;
    while (Date.now() < until) {
      seen.add(String(readPid(pidFile)));
      await sleep(10);
    }
    expect([...seen]).toEqual([String(server.pid)]);

    fs.writeFileSync(readyFile, '');
    // Written once, atomically: every read sees the old pid or the new one, never a missing or partial file.
    const reads = new Set<string>();
    const newPid = await waitFor('the pid file to name the successor', () => {
      const pid = readPid(pidFile);
      reads.add(String(pid));
      return pid !== undefined && pid !== server.pid ? pid : undefined;
    });
    rememberPid(newPid);
    expect(newPid).toBe(successor);
    expect([...reads].every((r) => r === String(server.pid) || r === String(successor))).toBe(true);
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect(readPid(pidFile)).toBe(successor);
  });
});

/** Inode of the socket listening on 127.0.0.1:port, from /proc/net/tcp. */
function listeningInode(port: number): string | undefined {
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const [, local, , state] = fields;
    const localPort = parseInt((local as string).split(':')[1] as string, 16);
    // 0A: TCP_LISTEN.
    if (localPort === port && state === '0A') return fields[9];
  }
  return undefined;
}

/** Inodes of every socket a process holds open, from /proc/<pid>/fd. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1] as string);
    } catch {
      // Closed meanwhile.
    }
  }
  return inodes;
}

function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(5_000, () => socket.destroy(Object.assign(new Error('connect timed out'), { code: 'TIMEOUT' })));
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'ERROR'));
  });
}

test('a successor that listens on fewer addresses closes the inherited socket nobody listens on', async () => {
  const dir = tempDir();
  const pidFile = path.join(dir, 's.pid');
  fs.writeFileSync(path.join(dir, 'build.json'), JSON.stringify({ version: '1.0', behavior: 'ok', extraListeners: 1 }));
  const server = startServer(APP, { ...DEPLOYED_ENV, ...NO_SETTLE, BUILD_DIR: dir, BATON_PID_FILE: pidFile });
  await explained(server, async () => {
    const before = await waitForOutput(server, /serving on /);
    const [kept] = mainPorts(before);
    const dropped = Number(/^also listening (\d+)$/m.exec(before)?.[1]);
    expect(kept).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
    const keptInode = listeningInode(kept as number);
    const droppedInode = listeningInode(dropped);
    expect(keptInode).toBeDefined();
    expect(droppedInode).toBeDefined();
    // The method sees what it should: the first generation holds both sockets.
    const oldSockets = socketInodes(server.pid);
    expect(oldSockets.has(keptInode as string)).toBe(true);
    expect(oldSockets.has(droppedInode as string)).toBe(true);

    // The next build listens on the first address only; both sockets are handed to it.
    writeBuild(dir, '1.1');
    process.kill(server.pid, 'SIGHUP');
    const successor = await waitForPidFileChange(pidFile, server.pid);
    expect(successorPidsFromLog(server.output())).toEqual([successor]);

    // Ready (it wrote the pid file): it holds the socket it serves and not the one nobody listens on.
    const newSockets = socketInodes(successor);
    expect(newSockets.has(keptInode as string)).toBe(true);
    expect(newSockets.has(droppedInode as string)).toBe(false);

    // Once the old generation has gone, nothing holds the dropped socket: the port refuses.
    expect(await exitOf(server)).toEqual({ code: 0, signal: null });
    expect((await request(kept as number, '/version')).body).toBe(`1.1 pid=${successor}\n`);
    expect(listeningInode(dropped)).toBeUndefined();
    expect(await connectOutcome(dropped)).toBe('ECONNREFUSED');
  });
});
