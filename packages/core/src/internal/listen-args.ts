import net from 'node:net';
import path from 'node:path';
import { BatonError } from '../errors';

export type ListenCallback = () => void;

/** A listen() call reduced to one shape, plus the key the next generation uses to find the same socket. */
export interface ListenRequest {
  /** `tcp:127.0.0.1:9527`, `tcp:*:0`, `unix:/run/app.sock`, `fd:3`: built only from what the code asked for. */
  key: string;
  options: net.ListenOptions;
  callback?: ListenCallback;
}

function bad(args: unknown[], why: string): BatonError {
  const shown = args.map((a) => (typeof a === 'function' ? '[function]' : JSON.stringify(a))).join(', ');
  return new BatonError('ERR_BATON_INVALID_LISTEN_ARGS', `listen(${shown}): ${why}`);
}

/** Mirrors net's rule: a string that is not a number is a pipe path, a numeric one is a port. */
function toPort(value: unknown, args: unknown[]): number | undefined {
  if (value === undefined || value === null) return undefined;
  const port = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw bad(args, `port ${JSON.stringify(value)} must be a whole number from 0 to 65535`);
  }
  return port;
}

function tcpKey(host: string | null | undefined, port: number): string {
  // net listens on every interface for an undefined, null or empty host.
  const shownHost = host === undefined || host === null || host === '' ? '*' : net.isIPv6(host) ? `[${host}]` : host;
  return `tcp:${shownHost}:${port}`;
}

function keyOf(options: net.ListenOptions & { fd?: number }, cwd: string): string {
  if (typeof options.fd === 'number') return `fd:${options.fd}`;
  // Abstract unix sockets (leading NUL) have no file to resolve.
  if (options.path !== undefined) {
    return `unix:${options.path.startsWith('\0') ? options.path : path.resolve(cwd, options.path)}`;
  }
  return tcpKey(options.host, options.port ?? 0);
}

/**
 * Accepts every argument form of net.Server.listen (and so of app.listen):
 * `()`, `(port[, host][, backlog][, cb])`, `(path[, backlog][, cb])`, `(options[, cb])`, `(handle[, backlog][, cb])`.
 * `cwd` is the directory at start-up, so a relative unix path keeps naming the same file after chdir().
 */
export function parseListenArgs(args: unknown[], cwd: string): ListenRequest {
  const rest = [...args];
  const callback = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as ListenCallback) : undefined;
  const [first, second, third] = rest;
  let options: net.ListenOptions & { fd?: number };

  if (first !== null && typeof first === 'object') {
    const given = first as net.ListenOptions & { fd?: unknown; _handle?: unknown };
    if (given._handle !== undefined)
      throw bad(args, 'listening on another server or handle object is not supported; pass { fd } instead');
    if (given.fd !== undefined && (typeof given.fd !== 'number' || !Number.isInteger(given.fd) || given.fd < 0)) {
      throw bad(args, `fd ${JSON.stringify(given.fd)} must be a whole number >= 0`);
    }
    if (given.path !== undefined && (typeof given.path !== 'string' || given.path === '')) {
      throw bad(args, `path ${JSON.stringify(given.path)} must be a non-empty string`);
    }
    if (given.host !== undefined && given.host !== null && typeof given.host !== 'string') {
      throw bad(args, `host ${JSON.stringify(given.host)} must be a string`);
    }
    options = { ...(given as net.ListenOptions & { fd?: number }) };
    if (given.fd === undefined && given.path === undefined) {
      const port = toPort(given.port, args);
      if (port !== undefined) options.port = port;
    }
    if (typeof second === 'number' && options.backlog === undefined) options.backlog = second;
  } else if (typeof first === 'string' && !(Number(first) >= 0)) {
    // net's isPipeName(): only a string that is not a number >= 0 is a path ('80.5' and '' are bad ports).
    options = { path: first };
    if (typeof second === 'number') options.backlog = second;
  } else {
    // listen(), listen(cb), listen(null[, host]): net binds an arbitrary port, but server.listen({})
    // throws (no port or path), so the omitted port is spelled out.
    options = { port: toPort(first, args) ?? 0 };
    if (typeof second === 'string') {
      options.host = second;
      if (typeof third === 'number') options.backlog = third;
    } else if (typeof second === 'number') {
      options.backlog = second;
    } else if (second !== undefined && second !== null) {
      throw bad(args, `host ${JSON.stringify(second)} must be a string`);
    }
  }
  return { key: keyOf(options, cwd), options, ...(callback ? { callback } : {}) };
}
