/** Wall-clock milliseconds with sub-millisecond precision, comparable with another process's Date.now(). */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Sleeps until the wall-clock moment `at`. */
export const sleepUntil = (at: number): Promise<void> => sleep(at - now());

/** A sleep that does not keep the process alive: for bounding a wait with Promise.race. */
export const deadline = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, Math.max(0, ms)).unref();
  });
