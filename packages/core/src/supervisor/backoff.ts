/** First restart delay after a crash; doubles with each consecutive failure. */
export const RESTART_BASE_MS = 100;
/** Longest wait between two restarts of a crash-looping worker. */
export const RESTART_MAX_MS = 30_000;
/** A worker that served this long before crashing resets the count: it was not a crash loop. */
export const STABLE_AFTER_MS = 10_000;

/** 100 ms, 200 ms, 400 ms, ... up to 30 s: a broken build never restarts at full speed. */
export function restartDelay(consecutiveFailures: number, base = RESTART_BASE_MS, max = RESTART_MAX_MS): number {
  const exponent = Math.max(0, consecutiveFailures - 1);
  return Math.min(max, base * 2 ** Math.min(exponent, 30));
}
