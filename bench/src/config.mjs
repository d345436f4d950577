// Run sizes. quick: `pnpm bench` (a few minutes on 2 cores); full: `pnpm bench --full`; smoke: CI.
// dying: the "build that dies 1 s after ready" section (sections/dying-build.mjs): per strategy and trial,
// warm-up + steady load on v1, one reload onto the dying build, then laterMs after its first process died.
// migration: connection migration on against off (sections/migration.mjs), one run of each per pair, a
// reload every 1.5 s; workOnly: also the pair with 2 ms requests only; nginx: also the pair behind nginx
// (skipped, and said so, when nginx is missing).
const LOAD = {
  undici: { loops: 8, connections: 8, thinkMs: 10 },
  agent: { loops: 8, maxSockets: 8, thinkMs: 10 },
  autocannon: { connections: 8, rate: 200 },
  idle: { clients: 16, minIdleMs: 500, maxIdleMs: 3000 },
};

const SMOKE_LOAD = {
  undici: { loops: 2, connections: 2, thinkMs: 20 },
  agent: { loops: 2, maxSockets: 2, thinkMs: 20 },
  autocannon: { connections: 2, rate: 50 },
  idle: { clients: 4, minIdleMs: 500, maxIdleMs: 1500 },
};

export const PRESETS = {
  quick: {
    reloads: 5,
    intervalMs: 1000,
    warmupMs: 2000,
    steadyMs: 5000,
    tailMs: 4000,
    load: LOAD,
    overhead: { pairs: 3, warmupS: 1, durationS: 3, connections: 32 },
    startup: { samples: 8 },
    dying: { trials: 1, warmupMs: 1000, steadyMs: 3000, diesAfterMs: 1000, laterMs: 10_000, workers: 2, load: LOAD },
    migration: {
      reloads: 20,
      intervalMs: 1500,
      warmupMs: 2000,
      steadyMs: 5000,
      tailMs: 4000,
      workOnly: true,
      nginx: true,
      load: LOAD,
    },
  },
  full: {
    reloads: 100,
    intervalMs: 1000,
    warmupMs: 3000,
    steadyMs: 20000,
    tailMs: 6000,
    load: LOAD,
    overhead: { pairs: 8, warmupS: 2, durationS: 5, connections: 32 },
    startup: { samples: 30 },
    dying: { trials: 3, warmupMs: 2000, steadyMs: 5000, diesAfterMs: 1000, laterMs: 10_000, workers: 2, load: LOAD },
    migration: {
      reloads: 50,
      intervalMs: 1500,
      warmupMs: 3000,
      steadyMs: 10_000,
      tailMs: 6000,
      workOnly: true,
      nginx: true,
      load: LOAD,
    },
  },
  smoke: {
    reloads: 2,
    intervalMs: 1000,
    warmupMs: 500,
    steadyMs: 1500,
    tailMs: 1500,
    load: SMOKE_LOAD,
    overhead: { pairs: 1, warmupS: 0.25, durationS: 0.75, connections: 16 },
    startup: { samples: 1 },
    // Tiny: baton in place only, 2 s after the death instead of 10 s.
    dying: {
      trials: 1,
      warmupMs: 500,
      steadyMs: 1000,
      diesAfterMs: 1000,
      laterMs: 2000,
      workers: 2,
      load: SMOKE_LOAD,
      strategies: ['baton'],
    },
    // Tiny, and never behind nginx (CI need not install it).
    migration: {
      reloads: 2,
      intervalMs: 1500,
      warmupMs: 500,
      steadyMs: 1500,
      tailMs: 1500,
      workOnly: false,
      nginx: false,
      load: SMOKE_LOAD,
    },
  },
};
