import type net from 'node:net';
import { generation } from './generation/this-process';

/**
 * `listen(server, ...args)` is `server.listen(...args)` for any net/http/https server, plus:
 * in the next generation of a reload (or under systemd socket activation) it adopts the inherited
 * socket that the same call made before instead of binding; SIGHUP reloads; SIGTERM/SIGINT drain
 * and exit 0. Accepts every argument form net.Server.listen accepts and returns the server.
 */
export function listen<S extends net.Server>(server: S, ...args: unknown[]): S {
  return generation.listen(server, args);
}
