// Every request the load clients make: when it started, how long it took, who made it, what it asked
// for, and how it ended ('ok' or an error code). Columnar, so a long run stays small.

export const OK = 'ok';

/** Failures are always counted; past this many, their individual records are not kept. */
const MAX_FAILURE_RECORDS = 200_000;
/** Failures are also counted per slice of this many ms of start time, whatever was kept. */
export const FAILURE_SLICE_MS = 10;

/** Failure counts by client kind, then by error code. */
export type FailureCounts = Record<string, Record<string, number>>;

/** What a Recorder holds, as plain JSON (one array per column; `kind`, `code` index `kinds`, `codes`). */
export interface RequestLog {
  kinds: string[];
  codes: string[];
  /** Start time, wall-clock ms. */
  t: number[];
  /** Latency in ms; -1 when the tool did not say when a failed request started. */
  lat: number[];
  kind: number[];
  /** Index of the route in the caller's route list. */
  route: number[];
  code: number[];
  /** pid of the server process that answered, when it says so in a header; 0 when unknown. */
  pid: number[];
  /** Exact counts, whatever was kept. */
  failures: FailureCounts;
  requests: Record<string, number>;
  /** floor(start time / FAILURE_SLICE_MS) → failed requests that started then. */
  failureSlices: Record<string, number>;
  /** True when some failures were counted but not kept one by one. */
  failuresCapped: boolean;
}

export class Recorder {
  readonly codes: string[] = [OK];
  readonly t: number[] = [];
  readonly lat: number[] = [];
  readonly kind: number[] = [];
  readonly route: number[] = [];
  readonly code: number[] = [];
  readonly pid: number[] = [];
  readonly failures: FailureCounts = {};
  readonly requests: Record<string, number>;
  readonly failureSlices: Record<string, number> = {};
  private failureRecords = 0;

  constructor(readonly kinds: string[]) {
    this.requests = Object.fromEntries(kinds.map((k) => [k, 0]));
  }

  /** latency is NaN when the tool does not say when the failed request started. */
  add(kind: string, route: number, startedAt: number, latency: number, code: string = OK, pid = 0): void {
    this.requests[kind] = (this.requests[kind] ?? 0) + 1;
    if (code !== OK) {
      const byCode = (this.failures[kind] ??= {});
      byCode[code] = (byCode[code] ?? 0) + 1;
      const slice = Math.floor(startedAt / FAILURE_SLICE_MS);
      this.failureSlices[slice] = (this.failureSlices[slice] ?? 0) + 1;
      if (this.failureRecords >= MAX_FAILURE_RECORDS) return;
      this.failureRecords += 1;
    }
    this.t.push(Math.round(startedAt * 10) / 10);
    this.lat.push(Number.isNaN(latency) ? -1 : Math.round(latency * 100) / 100);
    this.kind.push(this.kinds.indexOf(kind));
    this.route.push(route);
    this.code.push(this.codeIndex(code));
    this.pid.push(pid);
  }

  /** Requests made so far, in all. */
  total(): number {
    return Object.values(this.requests).reduce((a, b) => a + b, 0);
  }

  /** Failed requests so far, in all. */
  failed(): number {
    return countFailures(this.failures);
  }

  toJSON(): RequestLog {
    const { kinds, codes, t, lat, kind, route, code, pid, failures, requests, failureSlices } = this;
    const failuresCapped = this.failureRecords >= MAX_FAILURE_RECORDS;
    return { kinds, codes, t, lat, kind, route, code, pid, failures, requests, failureSlices, failuresCapped };
  }

  private codeIndex(code: string): number {
    let i = this.codes.indexOf(code);
    if (i < 0) i = this.codes.push(code) - 1;
    return i;
  }
}

/** Sum of failure counts over every kind and code. */
export function countFailures(failures: FailureCounts): number {
  return Object.values(failures).reduce((sum, codes) => sum + Object.values(codes).reduce((a, b) => a + b, 0), 0);
}

/** A stable short code for any client error: its code, its cause's code, or its name. */
export function errorCode(error: unknown): string {
  if (!error) return 'ERROR';
  const e = error as { code?: unknown; name?: unknown; cause?: { code?: unknown } };
  const code = e.code ?? e.cause?.code ?? e.name;
  return typeof code === 'string' && code !== '' ? code : 'ERROR';
}
