// What `baton verify` is asked to do, and its defaults (read by `baton verify --help` and the README).

export type Trigger = 'signal' | 'control';

export const VERIFY_DEFAULTS = Object.freeze({
  /** Reloads to perform. */
  reloads: 10,
  /** Paths the clients ask for (GET). */
  paths: ['/'] as readonly string[],
  /** Load before the first reload: the latency baseline. The first 500 ms are a warm-up. */
  steadyMs: 3000,
  /** Pause between one reload's outcome and the next reload. */
  intervalMs: 1000,
  /** Load after the last reload's outcome. */
  tailMs: 2000,
  /** Request loops per pooled client kind; new-connection loops are half of it, idle clients twice. */
  clients: 4,
  /** How long the app may take to open its control socket and answer every path with 2xx/3xx. */
  startTimeoutMs: 30_000,
  /** A request not answered (headers and whole body) within this fails with TIMEOUT. */
  requestTimeoutMs: 10_000,
  /** Workers under --supervised. */
  workers: 1,
});

export interface VerifyOptions {
  /** The app's start command, as the service runs it: `node server.js`. */
  command: string[];
  reloads: number;
  paths: string[];
  /** Load this origin instead of the listeners `status` reports. */
  url?: string;
  steadyMs: number;
  intervalMs: number;
  tailMs: number;
  clients: number;
  startTimeoutMs: number;
  requestTimeoutMs: number;
  /** After SIGTERM, how long to wait for the app to exit; default: its drain timeout + shutdown delay + 10 s. */
  stopTimeoutMs?: number;
  /** Under `baton run` (the path of baton's CLI is needed to start it). */
  supervised: boolean;
  workers: number;
  /** How reloads are asked for: SIGHUP (default in place) or the control socket (`baton reload`; default supervised). */
  trigger?: Trigger;
  /** Append the app's output here. */
  appLog?: string;
  /** Environment of the app (default: verify's own). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** `node <batonBin> run ...` starts the supervisor under --supervised (default: this package's CLI). */
  batonBin?: string;
  /** Seed of the clients' route choices. */
  seed?: number;
}

/** Options with every default filled in. */
export function verifyOptions(given: Partial<VerifyOptions> & Pick<VerifyOptions, 'command'>): VerifyOptions {
  const d = VERIFY_DEFAULTS;
  return {
    reloads: d.reloads,
    paths: [...d.paths],
    steadyMs: d.steadyMs,
    intervalMs: d.intervalMs,
    tailMs: d.tailMs,
    clients: d.clients,
    startTimeoutMs: d.startTimeoutMs,
    requestTimeoutMs: d.requestTimeoutMs,
    supervised: false,
    workers: d.workers,
    ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)),
    command: given.command,
  } as VerifyOptions;
}
