export { listen } from './listen';
export { reload, configure, ready, status, onDrain, onExit } from './reload';
export { BatonError, BATON_ERROR_CODES, isBatonError, type BatonErrorCode } from './errors';
export { DEFAULTS, ENV_VARIABLES, type BatonOptions, type Readiness, type SuccessorEnv } from './options';
export { lifecycleChannel, LOG_LEVELS, type Logger, type LogLevel, type LifecycleMessage } from './logger';
export { DrainTracker, type ConnectionCounts, type DrainResult } from './drain-tracker';
export type { ReloadResult, Status, ListenerStatus, LastReload, Phase } from './wire/types';
export type { DrainInfo, DrainHook } from './generation/generation';
