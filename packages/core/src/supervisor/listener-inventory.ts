import fs from 'node:fs';
import { GIVEN_SOCKET_PREFIX } from '../wire/handoff-env';

/** A listening handle as IPC delivers it (a TCP or Pipe wrap): the supervisor never accepts on it. */
export interface RawHandle {
  fd?: number;
  close?: (callback?: () => void) => void;
}

export interface HeldSocket {
  /** The name workers see in LISTEN_FDNAMES: a listener key, or `given:<label>`. */
  name: string;
  fd: number;
  source: 'worker' | 'systemd' | 'listen';
  /** Kept referenced so the descriptor stays open for later workers. */
  handle?: RawHandle;
}

/**
 * The sockets the supervisor holds for its whole life: given ones (systemd socket activation,
 * --listen), which listen() calls take in order, and learned ones, sent by the first worker that
 * bound them and matched by listener key afterwards. Workers inherit all of them at fds 3, 4, ...
 */
export class ListenerInventory {
  private readonly sockets: HeldSocket[] = [];

  addGiven(fd: number, label: string, source: 'systemd' | 'listen', handle?: RawHandle): void {
    this.sockets.push({ name: `${GIVEN_SOCKET_PREFIX}${label}`, fd, source, ...(handle ? { handle } : {}) });
  }

  /** A worker bound `key` itself and sent its handle. Returns false (and closes the copy) if known already. */
  learn(key: string, handle: RawHandle): boolean {
    if (typeof handle.fd !== 'number' || handle.fd < 0 || this.sockets.some((s) => s.name === key)) {
      handle.close?.();
      return false;
    }
    this.sockets.push({ name: key, fd: handle.fd, source: 'worker', handle });
    return true;
  }

  /**
   * Lets go of learned sockets that no key in `inUse` names: the new build stopped listening there,
   * and a socket nobody accepts on would leave its clients hanging instead of refused. Given sockets
   * stay: systemd or the command line asked for them. Returns the names closed.
   */
  forgetUnused(inUse: ReadonlySet<string>): string[] {
    const closed: string[] = [];
    for (let i = this.sockets.length - 1; i >= 0; i--) {
      const socket = this.sockets[i] as HeldSocket;
      if (socket.source !== 'worker' || inUse.has(socket.name)) continue;
      release(socket);
      this.sockets.splice(i, 1);
      closed.unshift(socket.name);
    }
    return closed;
  }

  list(): readonly HeldSocket[] {
    return this.sockets;
  }

  fds(): number[] {
    return this.sockets.map((s) => s.fd);
  }

  /** The names workers see in LISTEN_FDNAMES, in the order of fds(). */
  names(): string[] {
    return this.sockets.map((s) => s.name);
  }

  /**
   * Final shutdown: close every copy, and remove the unix socket files workers created (libuv only
   * unlinks a path in the process that bound it, and that worker may have been replaced long ago).
   */
  closeAll(): void {
    for (const socket of this.sockets) release(socket);
    this.sockets.length = 0;
  }
}

/** Closes our copy; for a unix socket a worker created, also its file (no process will serve it now). */
function release(socket: HeldSocket): void {
  if (socket.source === 'worker' && socket.name.startsWith('unix:/')) {
    const file = socket.name.slice('unix:'.length).replace(/#\d+$/, '');
    try {
      if (fs.lstatSync(file).isSocket()) fs.rmSync(file, { force: true });
    } catch {
      // Already gone.
    }
  }
  socket.handle?.close?.();
}
