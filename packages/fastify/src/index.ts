import type net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { HEALTH_DEFAULTS, healthAnswer, listen as listenServer, onExit, type HealthOptions } from '@baton/core';
import type { FastifyPluginAsync } from 'fastify';

/** The part of a Fastify instance (5) the adapter uses. */
export interface FastifyLikeApp {
  server: net.Server;
  ready(): PromiseLike<unknown>;
  close(): PromiseLike<unknown>;
  log: { info(message: string): void };
}

/**
 * The options of `fastify.listen(options)` that choose the socket, with Fastify's defaults: port 0,
 * host 'localhost' (no host with a unix `path`).
 */
export interface FastifyListenOptions {
  port?: number;
  host?: string;
  path?: string;
  backlog?: number;
  ipv6Only?: boolean;
  readableAll?: boolean;
  writableAll?: boolean;
  /** The line logged for each address, as in fastify.listen (default `Server listening at <address>`). */
  listenTextResolver?: (address: string) => string;
}

/**
 * Drop-in for `await fastify.listen(options)`: waits for `fastify.ready()`, listens `fastify.server`
 * through baton on the socket the options name, logs and resolves with the address as fastify.listen
 * does (`http://127.0.0.1:3000`, or the unix path), and closes the instance (`onClose` hooks) when
 * this generation exits. SIGHUP or reload() then hand the socket to the next generation.
 */
export async function listen(fastify: FastifyLikeApp, options: FastifyListenOptions = {}): Promise<string> {
  await fastify.ready();
  const { server } = fastify;
  const { path, backlog, ipv6Only, readableAll, writableAll } = options;
  // As fastify.listen: port 0 and host 'localhost', unless a unix path is given (fastify/fastify#4007).
  const port = options.port ?? (path === undefined ? 0 : undefined);
  const host = options.host ?? (path === undefined ? 'localhost' : undefined);
  const chosen = Object.entries({ port, host, path, backlog, ipv6Only, readableAll, writableAll }).filter(
    ([, value]) => value !== undefined,
  );
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    try {
      listenServer(server, Object.fromEntries(chosen), () => {
        server.off('error', onError);
        resolve();
      });
    } catch (error) {
      server.off('error', onError);
      reject(error);
    }
  });
  onExit(async () => {
    await fastify.close();
  });
  const addresses = addressesOf(server);
  const text = options.listenTextResolver ?? ((address: string) => `Server listening at ${address}`);
  for (const address of addresses) fastify.log.info(text(address));
  return addresses[0] as string;
}

/** What fastify.listen resolves with and logs: `http(s)://host:port` per address (0.0.0.0: per IPv4 interface), or the path. */
function addressesOf(server: net.Server): string[] {
  const address = server.address();
  if (address === null) return [];
  if (typeof address === 'string') return [address];
  const scheme = server instanceof tls.Server ? 'https' : 'http';
  if (address.address.includes(':')) return [`${scheme}://[${address.address}]:${address.port}`];
  const hosts = address.address === '0.0.0.0' ? ipv4Interfaces() : [address.address];
  return hosts.map((host) => `${scheme}://${host}:${address.port}`);
}

/** IPv4 addresses of this machine, internal (loopback) first, as Fastify lists them. */
function ipv4Interfaces(): string[] {
  return Object.values(os.networkInterfaces())
    .flatMap((list) => (list ?? []).filter((entry) => entry.family === 'IPv4'))
    .sort((a, b) => Number(b.internal) - Number(a.internal))
    .map((entry) => entry.address);
}

/**
 * Readiness and liveness probes as a Fastify plugin: `fastify.register(health())` adds GET (and HEAD)
 * routes /ready (200 while serving, 503 while starting, stopping or draining) and /live.
 */
export function health(options: HealthOptions = {}): FastifyPluginAsync {
  const paths = { ...HEALTH_DEFAULTS, ...options };
  return async (instance) => {
    for (const probe of [paths.readyPath, paths.livePath]) {
      instance.get(probe, async (_request, reply) => {
        // The route path itself: with a register prefix, request.url is not one of `paths`.
        const answer = healthAnswer('GET', probe, paths) as { status: number; body: string };
        return reply
          .code(answer.status)
          .header('cache-control', 'no-store')
          .type('text/plain; charset=utf-8')
          .send(answer.body);
      });
    }
  };
}

export * from '@baton/core';
export { listen as listenServer } from '@baton/core';
