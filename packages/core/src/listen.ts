import type net from 'node:net';
import { generation } from './generation/this-process';

/**
 * A socket inherited by file descriptor, as `server.listen({ fd })` takes it (another server or handle
 * object is not supported: pass its fd).
 */
export interface ListenHandle {
  fd: number;
  backlog?: number;
}

/**
 * `listen(server, ...args)` is `server.listen(...args)` for any net/http/https server, plus:
 * in the next generation of a reload (or under systemd socket activation) it adopts the inherited
 * socket that the same call made before instead of binding; SIGHUP reloads; SIGTERM/SIGINT drain
 * and exit 0. Takes the argument forms of net.Server#listen and returns the server. A port may be a
 * numeric string, as in `listen(server, process.env.PORT || 3000)` (net takes it; @types/node lets it
 * through its `handle: any`, which these overloads narrow to `{ fd }`).
 */
export function listen<S extends net.Server>(
  server: S,
  port?: number | string,
  hostname?: string,
  backlog?: number,
  listeningListener?: () => void,
): S;
export function listen<S extends net.Server>(
  server: S,
  port?: number | string,
  hostname?: string,
  listeningListener?: () => void,
): S;
export function listen<S extends net.Server>(
  server: S,
  port?: number | string,
  backlog?: number,
  listeningListener?: () => void,
): S;
export function listen<S extends net.Server>(server: S, port?: number | string, listeningListener?: () => void): S;
export function listen<S extends net.Server>(server: S, listeningListener?: () => void): S;
export function listen<S extends net.Server>(
  server: S,
  path: string,
  backlog?: number,
  listeningListener?: () => void,
): S;
export function listen<S extends net.Server>(server: S, path: string, listeningListener?: () => void): S;
export function listen<S extends net.Server>(server: S, options: net.ListenOptions, listeningListener?: () => void): S;
export function listen<S extends net.Server>(
  server: S,
  handle: ListenHandle,
  backlog?: number,
  listeningListener?: () => void,
): S;
export function listen<S extends net.Server>(server: S, handle: ListenHandle, listeningListener?: () => void): S;
export function listen<S extends net.Server>(server: S, ...args: unknown[]): S {
  return generation.listen(server, args);
}
