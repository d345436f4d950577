// The hand-written clients: an undici Pool, Node's http.Agent with keep-alive (both drawing from the
// request mix, back to back with a short pause), and idle clients that wait 0.5-3 s between requests
// on their kept-alive socket, the pattern that meets a server closing idle sockets.
import http from 'node:http';
import { Pool } from 'undici';
import { now, sleep } from '../lib/clock.mjs';
import { pickRoute, random, ROUTE_INDEX, ROUTES, UPLOAD_BODY } from './mix.mjs';
import { errorCode, OK } from './recorder.mjs';

const REQUEST_TIMEOUT_MS = 15_000;

/** How a response ended, and which server process answered (apps/routes.cjs sets x-pid). */
function check(route, status, headers, body, bytes) {
  const pid = Number(headers['x-pid']) || 0;
  if (status !== 200) return { code: `HTTP_${status}`, pid };
  return { code: route.expect(body, bytes) ? OK : 'BAD_BODY', pid };
}

async function undiciRequest(pool, route) {
  const { statusCode, headers, body } = await pool.request({
    path: route.path,
    method: route.method,
    body: route.upload ? UPLOAD_BODY : undefined,
    headersTimeout: REQUEST_TIMEOUT_MS,
    bodyTimeout: REQUEST_TIMEOUT_MS,
  });
  // Streams are only counted, never kept as text.
  let bytes = 0;
  let text = '';
  for await (const data of body) {
    bytes += data.length;
    if (route.name !== 'stream') text += data;
  }
  return check(route, statusCode, headers, text, bytes);
}

function agentRequest(agent, port, route) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: route.path, method: route.method, agent, headers: route.upload ? { 'content-length': UPLOAD_BODY.length } : {} },
      (res) => {
        let bytes = 0;
        let text = '';
        res.on('data', (data) => {
          bytes += data.length;
          if (route.name !== 'stream') text += data;
        });
        res.on('error', reject);
        res.on('end', () => resolve(check(route, res.statusCode, res.headers, text, bytes)));
        res.on('close', () => {
          if (!res.complete) reject(Object.assign(new Error('response cut short'), { code: 'ABORTED' }));
        });
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.on('error', reject);
    req.end(route.upload ? UPLOAD_BODY : undefined);
  });
}

async function timed(recorder, kind, route, send) {
  const started = now();
  let outcome;
  try {
    outcome = await send();
  } catch (error) {
    outcome = { code: errorCode(error), pid: 0 };
  }
  recorder.add(kind, ROUTE_INDEX[route.name], started, now() - started, outcome.code, outcome.pid);
}

/** `loops` request loops sharing one undici Pool of `connections`. Returns a stop function. */
export function startUndici({ port, loops, connections, thinkMs, seed }, recorder, isStopping) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1 });
  const runs = Array.from({ length: loops }, async (_, i) => {
    const rand = random(seed + i);
    while (!isStopping()) {
      const route = pickRoute(rand);
      await timed(recorder, 'undici', route, () => undiciRequest(pool, route));
      await sleep(thinkMs);
    }
  });
  return async () => {
    await Promise.all(runs);
    await pool.close();
  };
}

/** `loops` request loops sharing one keep-alive http.Agent. */
export function startAgent({ port, loops, maxSockets, thinkMs, seed }, recorder, isStopping) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const runs = Array.from({ length: loops }, async (_, i) => {
    const rand = random(seed + 1000 + i);
    while (!isStopping()) {
      const route = pickRoute(rand);
      await timed(recorder, 'agent', route, () => agentRequest(agent, port, route));
      await sleep(thinkMs);
    }
  });
  return async () => {
    await Promise.all(runs);
    agent.destroy();
  };
}

/** Clients with one kept-alive socket each, idle for minIdleMs-maxIdleMs between requests. */
export function startIdle({ port, clients, minIdleMs, maxIdleMs, seed }, recorder, isStopping) {
  const route = ROUTES[ROUTE_INDEX.work];
  const runs = Array.from({ length: clients }, async (_, i) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const rand = random(seed + 2000 + i);
    const wait = () => minIdleMs + rand() * (maxIdleMs - minIdleMs);
    // Stagger the first requests so the clients do not move in step.
    await sleep(wait());
    while (!isStopping()) {
      await timed(recorder, 'idle', route, () => agentRequest(agent, port, route));
      const until = now() + wait();
      while (!isStopping() && now() < until) await sleep(Math.min(100, until - now()));
    }
    agent.destroy();
  });
  return async () => {
    await Promise.all(runs);
  };
}
