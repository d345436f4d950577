// `@baton/core/verify`: `baton verify` as a function, and the load clients and failure accounting it
// shares with the bench (one implementation: an installed @baton/core runs it without the monorepo).
export { now, sleep, sleepUntil, deadline } from './clock';
export { FAILURE_SLICE_MS, OK, Recorder, countFailures, errorCode } from './recorder';
export type { FailureCounts, RequestLog } from './recorder';
export { getRoutes, random, routePicker } from './routes';
export type { LoadRoute, RoutePicker } from './routes';
export { describeTarget, targetOrigin } from './target';
export type { HttpTarget } from './target';
export { REQUEST_TIMEOUT_MS, okStatus, startAgent, startIdle, startNewConnection, startUndici } from './clients';
export type { ClientContext, IdleOptions, PooledOptions, StopClients } from './clients';
export { LOAD_KINDS, loadShapeFor, startMixedLoad } from './load';
export type { LoadKind, LoadShape, MixedLoad, MixedLoadOptions } from './load';
export { latencyStats, median, quantile, round, roundSummary, summary } from './stats';
export type { LatencyStats, Summary } from './stats';
export { AFTER_RELOAD_MS, accountRequests, digestFailures, lastSignalBefore } from './accounting';
export type { Accounting, AccountOptions, FailureGroup, FailureRecord } from './accounting';
export { VERIFY_DEFAULTS, verifyOptions } from './options';
export type { Trigger, VerifyOptions } from './options';
export { runVerify, VerifyRun } from './run';
export { renderReport, verdictLine } from './render';
export { progressFor } from './progress';
export type { ProgressSink, ProgressStream } from './progress';
export type { Reason, ReloadReport, VerifyReport } from './report';
