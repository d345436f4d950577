// What the load clients ask for: routes, and a seeded choice among them, so that two runs (or two
// strategies of the bench) see the same sequence of requests.

export interface LoadRoute {
  /** Short name for reports. */
  name: string;
  method: string;
  /** Path and query, e.g. `/health` or `/slow?ms=300`. */
  path: string;
  /** Sent as the request body, with its content-length. */
  body?: Buffer;
  /** Checks the body of a 2xx/3xx answer; a `false` counts the request as failed with BAD_BODY. */
  expect?: (body: string, bytes: number) => boolean;
  /** Count the body's bytes without keeping it as text (large or streamed responses). */
  countOnly?: boolean;
}

/** Routes that are plain GETs of these paths, named by their path. */
export function getRoutes(paths: string[]): LoadRoute[] {
  return paths.map((p) => ({ name: p, method: 'GET', path: p }));
}

/** A small seeded generator (mulberry32): the same seed gives the same sequence. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks a route index from a random number in [0, 1). */
export type RoutePicker = (rand: () => number) => number;

/**
 * Draws routes by weight (`{ name: share }`, shares adding up to 1; a route without a share is never
 * drawn), or evenly when no weights are given. Whatever the shares leave over falls to the first route.
 */
export function routePicker(routes: LoadRoute[], weights?: Record<string, number>): RoutePicker {
  if (routes.length === 0) throw new Error('routePicker: no routes');
  if (weights === undefined) return (rand) => Math.min(routes.length - 1, Math.floor(rand() * routes.length));
  const shares = Object.entries(weights).map(([name, share]) => {
    const index = routes.findIndex((r) => r.name === name);
    if (index < 0) throw new Error(`routePicker: no route named ${name}`);
    return { index, share };
  });
  return (rand) => {
    let x = rand();
    for (const { index, share } of shares) {
      if (x < share) return index;
      x -= share;
    }
    return 0;
  };
}
