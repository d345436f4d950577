import type http from 'node:http';
import { generation } from './generation/this-process';
import type { Health } from './wire/types';

/** This process's readiness and liveness right now (see Health). */
export function healthState(): Health {
  return generation.health();
}

export interface HealthOptions {
  /** Path of the readiness probe (default `/ready`): 200 while serving, 503 while starting, stopping or draining. */
  readyPath?: string;
  /** Path of the liveness probe (default `/live`): 200 whenever the process answers. */
  livePath?: string;
}

export const HEALTH_DEFAULTS = Object.freeze({ readyPath: '/ready', livePath: '/live' });

/**
 * Readiness and liveness endpoints for a Kubernetes probe or a load balancer's health check. The
 * function answers a request for one of the two paths and returns true; any other request it leaves
 * alone (calling `next` when given) and returns false. So it is an Express middleware as it is
 * (`app.use(health())`), and a plain listener's first line (`if (probe(req, res)) return;`). Koa has
 * its own form in @baton/koa.
 */
export function health(
  options: HealthOptions = {},
): (req: http.IncomingMessage, res: http.ServerResponse, next?: () => void) => boolean {
  const paths = { ...HEALTH_DEFAULTS, ...options };
  return (req, res, next) => {
    const answer = healthAnswer(req.method, req.url, paths);
    if (answer === undefined) {
      next?.();
      return false;
    }
    res.statusCode = answer.status;
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.end(answer.body);
    return true;
  };
}

/** The answer for a probe request, or undefined when the request is not one. Shared by every adapter. */
export function healthAnswer(
  method: string | undefined,
  url: string | undefined,
  paths: Required<HealthOptions> = HEALTH_DEFAULTS,
): { status: number; body: string } | undefined {
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const pathname = (url ?? '').split('?')[0];
  if (pathname !== paths.readyPath && pathname !== paths.livePath) return undefined;
  const state = healthState();
  if (pathname === paths.livePath) return { status: 200, body: `live (${state.phase})\n` };
  return state.ready
    ? { status: 200, body: `ready (${state.phase})\n` }
    : { status: 503, body: `not ready (${state.phase})\n` };
}
