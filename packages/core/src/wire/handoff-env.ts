import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { BatonError } from '../errors';

/**
 * The handoff follows systemd's socket-activation convention, so one code path serves both:
 * listening sockets arrive as fds 3, 4, ... with LISTEN_FDS (count) and LISTEN_FDNAMES (names).
 * A baton predecessor names each fd by its listener key (URI-encoded, since systemd names cannot
 * contain ':') and sets BATON_PREDECESSOR_PID; it cannot set LISTEN_PID because spawn() has no
 * pre-exec hook to learn the child's pid.
 */
export const LISTEN_FDS_START = 3;
export const HANDOFF_VARIABLES = [
  'LISTEN_FDS',
  'LISTEN_FDNAMES',
  'LISTEN_PID',
  'BATON_PREDECESSOR_PID',
  'BATON_SUPERVISOR_PID',
] as const;

/**
 * Under `baton run`, sockets the supervisor was given (systemd socket activation, --listen) rather
 * than learned from a worker's own listen() are named with this prefix; listen() calls take them in
 * order, the way they take systemd's sockets.
 */
export const GIVEN_SOCKET_PREFIX = 'given:';

export interface InheritedSocket {
  fd: number;
  /** The listener key for a baton handoff; whatever systemd was told (FileDescriptorName=) otherwise. */
  name: string;
  claimed: boolean;
}

export interface Inheritance {
  source: 'none' | 'baton' | 'systemd' | 'supervisor';
  sockets: InheritedSocket[];
  /** Set when this process is the next generation of a baton reload. */
  predecessorPid?: number;
  /** Set when this process is a worker of `baton run` (BATON_SUPERVISOR_PID). */
  supervisorPid?: number;
  /** The predecessor died before this successor read its handoff: it serves alone from the start. */
  predecessorGone?: boolean;
}

/** kill(pid, 0): EPERM means it exists but belongs to someone else. A zombie (state Z) is dead. */
function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

const NONE: Inheritance = { source: 'none', sockets: [] };

function bad(message: string): BatonError {
  return new BatonError('ERR_BATON_BAD_HANDOFF', message);
}

function describeFd(fd: number, variable: string): void {
  let stat: fs.BigIntStats;
  try {
    // bigint: a plain fstat of a socket leaves S_IFSOCK in the stat array that fs.realpathSync reads
    // on a cache hit, and require() then stops following symlinks (a pnpm node_modules breaks:
    // "Cannot find module"). The bigint variant fills a separate array. nodejs/node#51142
    stat = fs.fstatSync(fd, { bigint: true });
  } catch (cause) {
    throw new BatonError('ERR_BATON_BAD_HANDOFF', `${variable}: fd ${fd} is not open`, { cause });
  }
  if (!stat.isSocket()) {
    const kind = stat.isFile()
      ? 'a regular file'
      : stat.isFIFO()
        ? 'a pipe'
        : stat.isCharacterDevice()
          ? 'a character device'
          : 'not a socket';
    throw bad(`${variable}: fd ${fd} is ${kind}, not a listening socket`);
  }
  // listen({ fd }) on a connected socket, or on a socket of a kind net.Server cannot serve, fails
  // later with a bare `listen EINVAL`, or worse: say which fd it is.
  const kind = unsupportedSocketKind(stat.ino);
  if (kind !== undefined) throw bad(`${variable}: fd ${fd} is ${kind}, not a listening TCP or unix stream socket`);
  if (socketState(stat.ino) === 'connected')
    throw bad(`${variable}: fd ${fd} is a connected socket, not a listening one`);
}

/**
 * What the socket with inode `ino` is when it is of a kind a net.Server cannot listen on (UDP, raw, a
 * unix datagram or seqpacket socket), from the kernel's tables; undefined for TCP, unix stream, and
 * sockets not listed (no /proc, or another network namespace: listen() then decides).
 */
export function unsupportedSocketKind(ino: bigint, procNet = '/proc/net'): string | undefined {
  const inode = ino.toString();
  for (const [table, kind] of [
    ['udp', 'a UDP socket'],
    ['udp6', 'a UDP (IPv6) socket'],
    ['raw', 'a raw socket'],
    ['raw6', 'a raw (IPv6) socket'],
  ] as const) {
    if (findRow(`${procNet}/${table}`, (fields) => fields[9] === inode)) return kind;
  }
  const unix = findRow(`${procNet}/unix`, (fields) => fields[6] === inode);
  // Type 0001 is SOCK_STREAM; 0002 SOCK_DGRAM, 0005 SOCK_SEQPACKET.
  if (unix && unix[4] !== '0001') return unix[4] === '0002' ? 'a unix datagram socket' : 'a unix seqpacket socket';
  if (findRow(`${procNet}/netlink`, (fields) => fields[fields.length - 1] === inode)) return 'a netlink socket';
  if (findRow(`${procNet}/packet`, (fields) => fields[fields.length - 1] === inode)) return 'a packet socket';
  return undefined;
}

/**
 * Whether the socket with inode `ino` listens, from the kernel's socket tables (Linux /proc/net; Node
 * cannot getsockopt(SO_ACCEPTCONN)). 'unknown' where /proc is missing or the socket is not listed.
 */
export function socketState(ino: bigint, procNet = '/proc/net'): 'listening' | 'connected' | 'unknown' {
  const inode = ino.toString();
  for (const table of ['tcp', 'tcp6']) {
    const row = findRow(`${procNet}/${table}`, (fields) => fields[9] === inode);
    // st 0A is TCP_LISTEN.
    if (row) return row[3] === '0A' ? 'listening' : 'connected';
  }
  const unix = findRow(`${procNet}/unix`, (fields) => fields[6] === inode);
  // Flags 00010000 is __SO_ACCEPTCON: listen() was called on it.
  if (unix) return (parseInt(unix[3] ?? '0', 16) & 0x10000) !== 0 ? 'listening' : 'connected';
  return 'unknown';
}

function findRow(file: string, match: (fields: string[]) => boolean): string[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (match(fields)) return fields;
  }
  return undefined;
}

/** Set in every worker of `baton run`: the supervisor's pid (its sockets need no LISTEN_PID check). */
export const SUPERVISOR_PID_VARIABLE = 'BATON_SUPERVISOR_PID';

/** How far up the process tree the supervisor may be: worker, a wrapper script or two, the supervisor. */
export const SUPERVISOR_MAX_DEPTH = 8;

/**
 * What readInheritance checks BATON_SUPERVISOR_PID against, injectable for tests. The defaults are
 * this process's: whether it has an IPC channel (Node removes NODE_CHANNEL_FD from process.env at
 * start-up, so `process.send` is the only sign left), and each process's parent from /proc/<pid>/stat
 * (`ps` off Linux).
 */
export interface SupervisorRelation {
  hasIpcChannel: boolean;
  parentOf: (pid: number) => number | undefined;
}

/** The parent of `pid`, or undefined when it is gone or cannot be learned. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so count from the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    if (process.platform === 'linux') return undefined;
  }
  try {
    const ppid = Number(
      execFileSync('ps', ['-o', 'ppid=', '-p', String(pid)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 2000,
      }).trim(),
    );
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `ancestor` is `ppid` or one of its ancestors, at most SUPERVISOR_MAX_DEPTH levels up. */
export function isAncestor(
  ancestor: number,
  ppid: number,
  parent: (pid: number) => number | undefined = parentOf,
): boolean {
  let current: number | undefined = ppid;
  for (let depth = 0; depth < SUPERVISOR_MAX_DEPTH && current !== undefined && current > 0; depth++) {
    if (current === ancestor) return true;
    if (current === 1) return false;
    current = parent(current);
  }
  return false;
}

/**
 * BATON_SUPERVISOR_PID says "adopt these sockets without a LISTEN_PID check", so it is believed only
 * from where `baton run` sets it: the supervisor must be an ancestor of this process (its parent, or
 * above a wrapper script), and, when there are descriptors to adopt, this process must have the IPC
 * channel the supervisor opens to every worker. A forged or leaked variable fails both.
 */
function checkSupervisorRelation(
  supervisorPid: number,
  ppid: number,
  relation: SupervisorRelation,
  adopting: boolean,
): void {
  if (!isAncestor(supervisorPid, ppid, relation.parentOf)) {
    throw bad(
      `${SUPERVISOR_PID_VARIABLE}=${supervisorPid} but that process is not an ancestor of this one (parent ${ppid}): the variable is forged or leaked from another process; refusing its descriptors`,
    );
  }
  if (adopting && !relation.hasIpcChannel) {
    throw bad(
      `${SUPERVISOR_PID_VARIABLE}=${supervisorPid} but this process has no IPC channel, which baton run opens to every worker: the variable is forged or leaked from another process; refusing its descriptors`,
    );
  }
}

/** LISTEN_FDS and LISTEN_FDNAMES for a process that inherits sockets named `names` at fds 3, 4, ... */
export function socketsEnv(names: readonly string[]): Record<'LISTEN_FDS' | 'LISTEN_FDNAMES', string> {
  return {
    LISTEN_FDS: String(names.length),
    LISTEN_FDNAMES: names.map((name) => encodeURIComponent(name)).join(':'),
  };
}

/** Builds the environment entries for a successor that inherits `keys` at fds 3, 4, ... */
export function handoffEnv(keys: readonly string[], predecessorPid: number): Record<string, string> {
  return { ...socketsEnv(keys), BATON_PREDECESSOR_PID: String(predecessorPid) };
}

/** The environment entries for a worker of the supervisor `supervisorPid`, inheriting `names`. */
export function workerEnv(names: readonly string[], supervisorPid: number): Record<string, string> {
  // Before the first worker bound anything there is nothing to inherit: no LISTEN_FDS at all.
  return { ...(names.length > 0 ? socketsEnv(names) : {}), [SUPERVISOR_PID_VARIABLE]: String(supervisorPid) };
}

/**
 * Reads (and validates) what this process inherited. Pure apart from fstat: removing the variables
 * from process.env is the caller's job, so the app's own child processes never see them.
 */
export function readInheritance(
  env: NodeJS.ProcessEnv,
  pid: number,
  ppid: number,
  isAlive: (pid: number) => boolean = processIsAlive,
  relation: Partial<SupervisorRelation> = {},
): Inheritance {
  const { LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID, BATON_PREDECESSOR_PID, BATON_SUPERVISOR_PID } = env;
  let predecessorPid: number | undefined;
  let orphaned = false;
  if (BATON_SUPERVISOR_PID !== undefined) {
    return readSupervised(env, BATON_SUPERVISOR_PID, ppid, {
      hasIpcChannel: relation.hasIpcChannel ?? typeof process.send === 'function',
      parentOf: relation.parentOf ?? parentOf,
    });
  }

  if (BATON_PREDECESSOR_PID !== undefined) {
    if (!/^\d+$/.test(BATON_PREDECESSOR_PID) || Number(BATON_PREDECESSOR_PID) <= 1) {
      throw bad(`BATON_PREDECESSOR_PID=${JSON.stringify(BATON_PREDECESSOR_PID)} is not a process id`);
    }
    predecessorPid = Number(BATON_PREDECESSOR_PID);
    // A predecessor that died while we started (kill -9, the OOM killer) left us reparented: its
    // sockets are ours now, and we serve alone. One that still runs elsewhere is not our parent: the
    // variable leaked from another process, and whatever sits at fd 3 is not meant for us.
    if (predecessorPid !== ppid && isAlive(predecessorPid)) {
      throw bad(
        `BATON_PREDECESSOR_PID=${predecessorPid} but this process's parent is ${ppid}: the variable leaked from another process`,
      );
    }
    if (predecessorPid !== ppid) {
      // A real successor was started with an IPC channel; a stale variable in a shell has none.
      if (!(relation.hasIpcChannel ?? typeof process.send === 'function')) {
        throw bad(
          `BATON_PREDECESSOR_PID=${predecessorPid} names a process that is gone, and this process has no IPC channel: the variable is stale, not a handoff`,
        );
      }
      orphaned = true;
    }
    if (LISTEN_FDS === undefined) throw bad(`BATON_PREDECESSOR_PID=${predecessorPid} is set but LISTEN_FDS is not`);
  }
  if (LISTEN_FDS === undefined) return NONE;

  // systemd sets LISTEN_PID to the process the sockets are meant for; anyone else must ignore them,
  // and, as sd_listen_fds(3) does, so must a process given LISTEN_FDS without LISTEN_PID (a variable
  // leaked from some ancestor, grace#44) rather than adopt whatever happens to sit at fd 3.
  if (predecessorPid === undefined) {
    if (LISTEN_PID === undefined) return NONE;
    if (!/^\d+$/.test(LISTEN_PID)) throw bad(`LISTEN_PID=${JSON.stringify(LISTEN_PID)} is not a process id`);
    if (Number(LISTEN_PID) !== pid) return NONE;
  }

  // A predecessor whose listeners were all closed hands over none: handoffEnv([]) gives LISTEN_FDS=0.
  const fewest = predecessorPid !== undefined ? 0 : 1;
  if (!/^\d+$/.test(LISTEN_FDS) || Number(LISTEN_FDS) < fewest || Number(LISTEN_FDS) > 1024) {
    throw bad(`LISTEN_FDS=${JSON.stringify(LISTEN_FDS)} is not a count of descriptors from ${fewest} to 1024`);
  }
  const count = Number(LISTEN_FDS);
  const source = predecessorPid !== undefined ? 'baton' : 'systemd';
  let names: string[] = Array.from({ length: count }, () => 'unknown');
  if (LISTEN_FDNAMES !== undefined) {
    names = count === 0 && LISTEN_FDNAMES === '' ? [] : LISTEN_FDNAMES.split(':');
    if (names.length !== count) {
      throw bad(`LISTEN_FDNAMES=${JSON.stringify(LISTEN_FDNAMES)} has ${names.length} names but LISTEN_FDS=${count}`);
    }
  } else if (source === 'baton') {
    throw bad(`BATON_PREDECESSOR_PID=${predecessorPid} is set but LISTEN_FDNAMES is not`);
  }
  if (source === 'baton') {
    names = names.map((name) => {
      try {
        return decodeURIComponent(name);
      } catch (cause) {
        throw new BatonError('ERR_BATON_BAD_HANDOFF', `LISTEN_FDNAMES: ${JSON.stringify(name)} is not a listener key`, {
          cause,
        });
      }
    });
  }

  const sockets = names.map((name, index) => {
    const fd = LISTEN_FDS_START + index;
    describeFd(fd, `LISTEN_FDS=${count}`);
    return { fd, name, claimed: false };
  });
  return {
    source,
    sockets,
    ...(predecessorPid !== undefined ? { predecessorPid } : {}),
    ...(orphaned ? { predecessorGone: true } : {}),
  };
}

/**
 * A worker of `baton run`: sockets (if any yet) at 3.., named by listener key or GIVEN_SOCKET_PREFIX.
 * The parent need not be the supervisor: a wrapper script (`sh -c 'node app.js'`) may sit in between,
 * passing the fds and the IPC channel on; but the supervisor must be an ancestor, and with sockets to
 * adopt the IPC channel must be there (checkSupervisorRelation).
 */
function readSupervised(env: NodeJS.ProcessEnv, raw: string, ppid: number, relation: SupervisorRelation): Inheritance {
  if (!/^\d+$/.test(raw) || Number(raw) < 1)
    throw bad(`BATON_SUPERVISOR_PID=${JSON.stringify(raw)} is not a process id`);
  const supervisorPid = Number(raw);
  const { LISTEN_FDS, LISTEN_FDNAMES } = env;
  if (LISTEN_FDS === undefined || LISTEN_FDS === '0') {
    checkSupervisorRelation(supervisorPid, ppid, relation, false);
    return { source: 'supervisor', sockets: [], supervisorPid };
  }
  if (!/^\d+$/.test(LISTEN_FDS) || Number(LISTEN_FDS) > 1024) {
    throw bad(`LISTEN_FDS=${JSON.stringify(LISTEN_FDS)} is not a count of descriptors from 0 to 1024`);
  }
  const names = (LISTEN_FDNAMES ?? '').split(':');
  if (names.length !== Number(LISTEN_FDS)) {
    throw bad(
      `LISTEN_FDNAMES=${JSON.stringify(LISTEN_FDNAMES)} has ${names.length} names but LISTEN_FDS=${LISTEN_FDS}`,
    );
  }
  checkSupervisorRelation(supervisorPid, ppid, relation, true);
  const sockets = names.map((encoded, index) => {
    let name: string;
    try {
      name = decodeURIComponent(encoded);
    } catch (cause) {
      throw new BatonError(
        'ERR_BATON_BAD_HANDOFF',
        `LISTEN_FDNAMES: ${JSON.stringify(encoded)} is not a listener key`,
        { cause },
      );
    }
    const fd = LISTEN_FDS_START + index;
    describeFd(fd, `LISTEN_FDS=${LISTEN_FDS}`);
    return { fd, name, claimed: false };
  });
  return { source: 'supervisor', sockets, supervisorPid };
}

/**
 * Picks the inherited socket for a listen() call. A baton successor matches by key, so changed code
 * that listens on a new address binds it fresh. systemd names its sockets after units, not addresses,
 * so listen() calls take systemd's sockets in order (what node-systemd users and sd_listen_fds expect),
 * unless a FileDescriptorName= equals the key.
 */
export function claimInherited(inheritance: Inheritance, key: string): InheritedSocket | undefined {
  const free = inheritance.sockets.filter((socket) => !socket.claimed);
  const positional =
    inheritance.source === 'systemd'
      ? free[0]
      : inheritance.source === 'supervisor'
        ? free.find((s) => s.name.startsWith(GIVEN_SOCKET_PREFIX))
        : undefined;
  const found = free.find((socket) => socket.name === key) ?? positional;
  if (found) found.claimed = true;
  return found;
}

/** Invariant 6: inherited descriptors the new code did not ask for are closed once it is ready. */
export function closeUnclaimed(inheritance: Inheritance): number[] {
  const closed: number[] = [];
  for (const socket of inheritance.sockets) {
    if (socket.claimed) continue;
    socket.claimed = true;
    try {
      fs.closeSync(socket.fd);
      closed.push(socket.fd);
    } catch {
      // Already closed by someone else: nothing leaks.
    }
  }
  return closed;
}

/** Where inherited sockets came from, for logs: `pid 4312`, `supervisor pid 17`, `systemd`. */
export function describeSource(inheritance: Inheritance): string {
  switch (inheritance.source) {
    case 'baton':
      return `pid ${inheritance.predecessorPid}`;
    case 'supervisor':
      return `supervisor pid ${inheritance.supervisorPid}`;
    case 'systemd':
      return 'systemd';
    case 'none':
      return 'nobody';
  }
}
