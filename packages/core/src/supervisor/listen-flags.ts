import net from 'node:net';
import path from 'node:path';
import util from 'node:util';
import { BatonError } from '../errors';
import type { RawHandle } from './listener-inventory';

export interface BoundAddress {
  label: string;
  handle: RawHandle & { fd: number };
}

type CreateServerHandle = (
  address: string | null,
  port: number,
  addressType: number,
  fd?: number,
  flags?: number,
) => (RawHandle & { fd: number }) | number;

/**
 * `--listen ADDRESS`: bind (but do not listen on) a socket before any worker starts, the way
 * Node's cluster primary does for SCHED_NONE (net._createServerHandle): the supervisor never polls
 * it, so it never accepts; the first worker's listen({ fd }) turns it into a listening socket that
 * every later worker shares. Forms: `8080`, `:8080`, `127.0.0.1:8080`, `[::1]:8080`, `unix:/path`, `/path`.
 */
export function bindListenFlag(value: string, cwd: string): BoundAddress {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function')
    throw new BatonError('ERR_BATON_UNSUPPORTED', '--listen is not supported by this Node.js version');
  const bad = (why: string): BatonError =>
    new BatonError('ERR_BATON_INVALID_OPTION', `--listen ${JSON.stringify(value)}: ${why}`);
  let result: ReturnType<CreateServerHandle>;
  let label: string;
  if (value.startsWith('unix:') || value.startsWith('/') || value.startsWith('./')) {
    const file = path.resolve(cwd, value.replace(/^unix:/, ''));
    label = `unix:${file}`;
    result = create(file, -1, -1);
  } else {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d+)$|^(\d+)$/.exec(value);
    if (!match) throw bad('expected PORT, HOST:PORT, [IPv6]:PORT, unix:/path or /path');
    const host = match[1] ?? match[2] ?? '';
    const port = Number(match[3] ?? match[4]);
    if (port > 65535) throw bad(`port ${port} must be from 0 to 65535`);
    const family = host === '' ? 0 : net.isIP(host);
    if (host !== '' && family === 0) throw bad(`${host} is not an IP address (host names are not resolved)`);
    label = `tcp:${host === '' ? '*' : family === 6 ? `[${host}]` : host}:${port}`;
    result = host === '' ? create(null, port, 4) : create(host, port, family);
  }
  if (typeof result === 'number') throw bad(`cannot bind: ${util.getSystemErrorName(result)}`);
  return { label, handle: result };
}
