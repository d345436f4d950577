/** Wall-clock milliseconds with sub-millisecond precision, comparable with the servers' event times. */
export const now = () => performance.timeOrigin + performance.now();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Sleeps until the wall-clock moment `at`. */
export const sleepUntil = (at) => sleep(at - now());

/** A sleep that does not keep the process alive: for bounding a wait with Promise.race. */
export const deadline = (ms) =>
  new Promise((resolve) => {
    setTimeout(resolve, Math.max(0, ms)).unref();
  });
