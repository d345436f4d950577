// What the bench's clients ask for (routes of apps/routes.cjs). The pooled clients (undici, http.Agent)
// draw each request from MIX; autocannon and the idle clients send the 2 ms request only. The clients
// themselves are @baton/core's (`@baton/core/verify`), the same ones `baton verify` runs.
import { routePicker } from '@baton/core/verify';

export const UPLOAD_BYTES = 256 * 1024;
export const STREAM_BYTES = 8 * 8 * 1024; // apps/routes.cjs: 8 chunks of 8 KB, 10 ms apart

export const UPLOAD_BODY = Buffer.alloc(UPLOAD_BYTES, 'u');

export const ROUTES = [
  { name: 'work', method: 'GET', path: '/work', expect: (body) => body === 'ok\n' },
  { name: 'slow300', method: 'GET', path: '/slow?ms=300', expect: (body) => body === 'slow ok\n' },
  { name: 'slow2500', method: 'GET', path: '/slow?ms=2500', expect: (body) => body === 'slow ok\n' },
  {
    name: 'upload',
    method: 'POST',
    path: '/upload',
    body: UPLOAD_BODY,
    expect: (body) => body === `${UPLOAD_BYTES}\n`,
  },
  // Streams are only counted, never kept as text.
  { name: 'stream', method: 'GET', path: '/stream', countOnly: true, expect: (body, bytes) => bytes === STREAM_BYTES },
];
export const ROUTE_INDEX = Object.fromEntries(ROUTES.map((r, i) => [r.name, i]));

/** Shares of the pooled clients' requests; they add up to 1. */
export const MIX = { work: 0.86, slow300: 0.02, slow2500: 0.005, upload: 0.055, stream: 0.06 };

/** Draws a route index from a seeded random number: every strategy sees the same sequence. */
export const pickRoute = routePicker(ROUTES, MIX);
