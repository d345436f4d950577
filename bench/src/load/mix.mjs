// What the clients ask for. The pooled clients (undici, http.Agent) draw each request from MIX;
// autocannon and the idle clients send the 2 ms request only.
export const UPLOAD_BYTES = 256 * 1024;
export const STREAM_BYTES = 8 * 8 * 1024; // apps/routes.cjs: 8 chunks of 8 KB, 10 ms apart

export const ROUTES = [
  { name: 'work', method: 'GET', path: '/work', expect: (body) => body === 'ok\n' },
  { name: 'slow300', method: 'GET', path: '/slow?ms=300', expect: (body) => body === 'slow ok\n' },
  { name: 'slow2500', method: 'GET', path: '/slow?ms=2500', expect: (body) => body === 'slow ok\n' },
  { name: 'upload', method: 'POST', path: '/upload', upload: true, expect: (body) => body === `${UPLOAD_BYTES}\n` },
  { name: 'stream', method: 'GET', path: '/stream', expect: (body, bytes) => bytes === STREAM_BYTES },
];
export const ROUTE_INDEX = Object.fromEntries(ROUTES.map((r, i) => [r.name, i]));

/** Shares of the pooled clients' requests; they add up to 1. */
export const MIX = { work: 0.86, slow300: 0.02, slow2500: 0.005, upload: 0.055, stream: 0.06 };

export const UPLOAD_BODY = Buffer.alloc(UPLOAD_BYTES, 'u');

/** A small seeded generator, so every strategy sees the same sequence of requests. */
export function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pickRoute(rand) {
  let x = rand();
  for (const [name, share] of Object.entries(MIX)) {
    if (x < share) return ROUTES[ROUTE_INDEX[name]];
    x -= share;
  }
  return ROUTES[ROUTE_INDEX.work];
}
