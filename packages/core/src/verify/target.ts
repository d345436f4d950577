// Where the load goes: a TCP host and port, or a unix socket path.

export type HttpTarget = { host: string; port: number } | { socketPath: string };

/** The origin undici's Pool is created with (a unix socket is reached through `connect.socketPath`). */
export function targetOrigin(target: HttpTarget): string {
  if ('socketPath' in target) return 'http://localhost';
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `http://${host}:${target.port}`;
}

/** For people: `http://127.0.0.1:9527` or `http+unix:/run/app.sock`. */
export function describeTarget(target: HttpTarget): string {
  return 'socketPath' in target ? `http+unix:${target.socketPath}` : targetOrigin(target);
}

/** The connection fields of http.request's options. */
export function requestAddress(target: HttpTarget): { host: string; port: number } | { socketPath: string } {
  return 'socketPath' in target ? { socketPath: target.socketPath } : { host: target.host, port: target.port };
}
