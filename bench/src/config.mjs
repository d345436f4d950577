// Run sizes. quick: `pnpm bench` (a few minutes on 2 cores); full: `pnpm bench --full`; smoke: CI.
const LOAD = {
  undici: { loops: 8, connections: 8, thinkMs: 10 },
  agent: { loops: 8, maxSockets: 8, thinkMs: 10 },
  autocannon: { connections: 8, rate: 200 },
  idle: { clients: 16, minIdleMs: 500, maxIdleMs: 3000 },
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
  },
  smoke: {
    reloads: 2,
    intervalMs: 1000,
    warmupMs: 500,
    steadyMs: 1500,
    tailMs: 1500,
    load: {
      undici: { loops: 2, connections: 2, thinkMs: 20 },
      agent: { loops: 2, maxSockets: 2, thinkMs: 20 },
      autocannon: { connections: 2, rate: 50 },
      idle: { clients: 4, minIdleMs: 500, maxIdleMs: 1500 },
    },
    overhead: { pairs: 1, warmupS: 0.5, durationS: 1, connections: 16 },
    startup: { samples: 2 },
  },
};
