/** SIGHUP reloads; SIGTERM and SIGINT drain and exit. Never SIGUSR1: the inspector owns it. */
export const RELOAD_SIGNAL = 'SIGHUP';
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export interface SignalHandlers {
  onReload: () => void;
  onStop: (signal: NodeJS.Signals) => void;
}

/** Installs the handlers and returns a function that removes them again. */
export function installSignalHandlers(handlers: SignalHandlers): () => void {
  const reload = (): void => handlers.onReload();
  const stop = (signal: NodeJS.Signals): void => handlers.onStop(signal);
  process.on(RELOAD_SIGNAL, reload);
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  return () => {
    process.off(RELOAD_SIGNAL, reload);
    for (const signal of STOP_SIGNALS) process.off(signal, stop);
  };
}
