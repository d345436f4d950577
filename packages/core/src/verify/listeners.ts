// From the listeners `status` reports (keys such as tcp:127.0.0.1:9527, unix:/run/app.sock) to the
// addresses the load clients connect to.
import type { ControlStatus } from '../wire/control';
import { listeningPortOf } from './proc';
import type { HttpTarget } from './target';

export interface ListenerTarget {
  key: string;
  /** Undefined when the key names no address verify can connect to (say why in `note`). */
  target?: HttpTarget;
  note?: string;
}

/** Where a client reaches a server that listens on `host`: any-address binds are reached on loopback. */
function connectHost(host: string): string {
  if (host === '*' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * The address to load for one listener key. A port-0 key is resolved to the port the kernel chose:
 * from /proc (the socket at `fd` in `pid`), else from `portHint` (the ready line's "(port N)").
 */
export function targetOfKey(
  key: string,
  pid: number,
  fd: number | undefined,
  portHint?: (key: string) => number | undefined,
): ListenerTarget {
  const bare = key.replace(/#\d+$/, '');
  if (bare.startsWith('unix:')) {
    const socketPath = bare.slice('unix:'.length);
    if (socketPath.startsWith('\0')) return { key, note: 'an abstract unix socket: pass --url' };
    return { key, target: { socketPath } };
  }
  const tcp = /^tcp:(\[[^\]]+\]|[^:]+):(\d+)$/.exec(bare);
  if (!tcp) return { key, note: 'not a TCP or unix address: pass --url' };
  const host = connectHost(tcp[1] as string);
  let port = Number(tcp[2]);
  if (port === 0) {
    port = (fd !== undefined ? listeningPortOf(pid, fd) : undefined) ?? portHint?.(key) ?? 0;
    if (port === 0) return { key, note: 'asked for port 0 and its port could not be learned: pass --url' };
  }
  return { key, target: { host, port } };
}

/** Every listener of a status answer, with its address when there is one. */
export function listenerTargets(
  status: ControlStatus,
  portHint?: (key: string) => number | undefined,
): ListenerTarget[] {
  return status.listeners
    .filter((l) => !l.key.startsWith('control:'))
    .map((l) => targetOfKey(l.key, status.pid, l.fd, portHint));
}

/** `http://host:port` (the path is ignored: give paths with --path) as a target. */
export function targetOfUrl(url: string): HttpTarget {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:') throw new Error(`--url ${url}: only http:// is supported`);
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  return { host, port: parsed.port === '' ? 80 : Number(parsed.port) };
}
