// What /proc says about the app's processes and sockets (Linux; elsewhere every answer is "unknown").

import fs from 'node:fs';

/** True while `pid` runs; a zombie (exited, not yet reaped) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may itself hold ') '.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Live pids whose initial environment holds `name=value` (how the app's every process is found). */
export function pidsWithVariable(name: string, value: string): number[] {
  const needle = `${name}=${value}`;
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(needle) && isAlive(Number(entry)))
        pids.push(Number(entry));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return pids.sort((a, b) => a - b);
}

/** The command line of `pid`, for a report; undefined when unknown. */
export function commandLine(pid: number): string | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return text === '' ? undefined : text.length > 200 ? `${text.slice(0, 197)}...` : text;
  } catch {
    return undefined;
  }
}

interface ListeningSocket {
  kind: 'tcp' | 'unix';
  port?: number;
  path?: string;
}

/** Listening sockets by inode, from /proc/net/{tcp,tcp6,unix}. */
export function listeningSockets(): Map<number, ListeningSocket> {
  const found = new Map<number, ListeningSocket>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode; 0A is LISTEN.
      if (cols.length < 10 || cols[3] !== '0A') continue;
      const port = parseInt((cols[1] as string).split(':')[1] as string, 16);
      found.set(Number(cols[9]), { kind: 'tcp', port });
    }
  }
  try {
    for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // Num RefCount Protocol Flags Type St Inode Path; flag 00010000 is __SO_ACCEPTCON (listening).
      if (cols.length < 7 || (parseInt(cols[3] as string, 16) & 0x10000) === 0) continue;
      found.set(Number(cols[6]), { kind: 'unix', ...(cols[7] !== undefined ? { path: cols[7] } : {}) });
    }
  } catch {
    // No unix table: nothing to add.
  }
  return found;
}

/** fd → socket inode of every socket `pid` holds; undefined when /proc cannot tell. */
export function socketInodes(pid: number): Map<number, number> | undefined {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  const inodes = new Map<number, number>();
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.set(Number(fd), Number(match[1]));
    } catch {
      // Closed meanwhile.
    }
  }
  return inodes;
}

/** The TCP port of the listening socket at `fd` in `pid` (a listener asked for port 0), if /proc says. */
export function listeningPortOf(pid: number, fd: number): number | undefined {
  const inode = socketInodes(pid)?.get(fd);
  if (inode === undefined) return undefined;
  return listeningSockets().get(inode)?.port;
}

/** How many listening sockets `pid` holds, and which; undefined when /proc cannot tell. */
export function listeningSocketsOf(pid: number): string[] | undefined {
  const inodes = socketInodes(pid);
  if (inodes === undefined) return undefined;
  const listening = listeningSockets();
  const held: string[] = [];
  for (const [fd, inode] of inodes) {
    const socket = listening.get(inode);
    if (socket)
      held.push(
        `fd ${fd}: ${socket.kind === 'tcp' ? `tcp port ${socket.port}` : `unix ${socket.path ?? '(unnamed)'}`}`,
      );
  }
  return held;
}
