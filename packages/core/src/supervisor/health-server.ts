import http from 'node:http';
import path from 'node:path';
import { BatonError } from '../errors';
import type { LifecycleLog } from '../logger';

/** What the probes report: ready while the service serves and is not stopping. */
export interface SupervisorHealth {
  ready: boolean;
  phase: string;
}

/** `127.0.0.1:9000`, `:9000`, `9000`, `[::1]:9000`, `unix:/run/app/health.sock` or `/run/app/health.sock`. */
export function parseHealthAddress(value: string, cwd: string): { port: number; host?: string } | { path: string } {
  if (value.startsWith('unix:') || value.startsWith('/') || value.startsWith('./'))
    return { path: path.resolve(cwd, value.replace(/^unix:/, '')) };
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d+)$|^(\d+)$/.exec(value);
  const port = Number(match?.[3] ?? match?.[4]);
  if (!match || port > 65535) {
    throw new BatonError(
      'ERR_BATON_INVALID_OPTION',
      `--health ${JSON.stringify(value)} is invalid: expected PORT, HOST:PORT, [IPv6]:PORT or unix:/path`,
    );
  }
  const host = match[1] ?? match[2] ?? '';
  return host === '' ? { port } : { port, host };
}

/**
 * The supervisor's own readiness and liveness endpoints (`baton run --health ADDRESS`), for a
 * Kubernetes probe or a load balancer: GET /ready is 200 while at least one worker serves and the
 * service is not stopping, 503 otherwise; GET /live is 200 whenever the supervisor answers.
 */
export function startHealthServer(
  address: string,
  cwd: string,
  state: () => SupervisorHealth,
  log: LifecycleLog,
): Promise<http.Server> {
  const where = parseHealthAddress(address, cwd);
  const server = http.createServer((req, res) => {
    const pathname = (req.url ?? '').split('?')[0];
    const now = state();
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    if (pathname === '/live') {
      res.end(`live (${now.phase})\n`);
    } else if (pathname === '/ready') {
      res.statusCode = now.ready ? 200 : 503;
      res.end(`${now.ready ? 'ready' : 'not ready'} (${now.phase})\n`);
    } else {
      res.statusCode = 404;
      res.end('not found: GET /ready or /live\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error) =>
      reject(new BatonError('ERR_BATON_INVALID_OPTION', `--health ${address}: ${error.message}`, { cause: error })),
    );
    server.listen(where, () => {
      log.info('health', `health probes on ${address}: GET /ready, GET /live`);
      resolve(server);
    });
  });
}
