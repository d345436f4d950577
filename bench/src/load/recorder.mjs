// Every request the clients make: when it started, how long it took, who made it, what it asked
// for, and how it ended ('ok' or an error code). Columnar, so a long run stays small.
export const OK = 'ok';

/** Failures are always counted; past this many, their individual records are not kept. */
const MAX_FAILURE_RECORDS = 200_000;
/** Failures are also counted per slice of this many ms of start time, whatever was kept. */
export const FAILURE_SLICE_MS = 10;

export class Recorder {
  constructor(kinds) {
    this.kinds = kinds;
    this.codes = [OK];
    this.t = [];
    this.lat = [];
    this.kind = [];
    this.route = [];
    this.code = [];
    /** pid of the server process that answered; 0 when unknown (autocannon, failures). */
    this.pid = [];
    /** Exact failure counts by client kind and code, whatever was kept. */
    this.failures = {};
    this.requests = Object.fromEntries(kinds.map((k) => [k, 0]));
    this.failureRecords = 0;
    /** floor(start time / FAILURE_SLICE_MS) → failed requests that started then. */
    this.failureSlices = {};
  }

  codeIndex(code) {
    let i = this.codes.indexOf(code);
    if (i < 0) i = this.codes.push(code) - 1;
    return i;
  }

  /** latency is NaN when the tool does not say when the failed request started. */
  add(kind, route, startedAt, latency, code = OK, pid = 0) {
    this.requests[kind] += 1;
    if (code !== OK) {
      this.failures[kind] ??= {};
      this.failures[kind][code] = (this.failures[kind][code] ?? 0) + 1;
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

  toJSON() {
    const { kinds, codes, t, lat, kind, route, code, pid, failures, requests, failureSlices, failureRecords } = this;
    const failuresCapped = failureRecords >= MAX_FAILURE_RECORDS;
    return { kinds, codes, t, lat, kind, route, code, pid, failures, requests, failureSlices, failuresCapped };
  }
}

/** A stable short code for any client error. */
export function errorCode(error) {
  if (!error) return 'ERROR';
  return error.code ?? error.cause?.code ?? error.name ?? 'ERROR';
}
