export { listen, type ListenHandle } from './listen';
export { reload, configure, ready, status, onDrain, onExit } from './reload';
export { health, healthAnswer, healthState, HEALTH_DEFAULTS, type HealthOptions } from './health';
export { BatonError, BATON_ERROR_CODES, isBatonError, type BatonErrorCode } from './errors';
export { DEFAULTS, ENV_VARIABLES, type BatonOptions, type Readiness, type SuccessorEnv } from './options';
export {
  lifecycleChannel,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LogLevel,
  type LifecycleMessage,
} from './logger';
export { DrainTracker, type ConnectionCounts, type DrainResult } from './drain-tracker';
export type { ReloadResult, Status, ListenerStatus, LastReload, Phase, Health } from './wire/types';
export type { DrainInfo, DrainHook } from './generation/generation';
