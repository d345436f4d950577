import os from 'node:os';
import { InvalidArgumentError } from 'commander';
import { LOG_LEVELS, type LogLevel } from '../logger';
import { MAX_TIMEOUT_MS } from '../options';

/**
 * `30` (seconds), `500ms`, `30s`, `2m`: returns milliseconds, from 1 to MAX_TIMEOUT_MS (the same
 * range as the BATON_*_MS variables). Commander names the option in its error.
 */
export function parseDuration(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected a duration such as 30 (seconds), 30s, 500ms or 2m.');
  const amount = Number(match[1]);
  const unit = match[2] ?? 's';
  const ms = Math.round(unit === 'ms' ? amount : unit === 'm' ? amount * 60_000 : amount * 1000);
  if (ms <= 0) throw new InvalidArgumentError('the duration must be greater than 0.');
  if (ms > MAX_TIMEOUT_MS)
    throw new InvalidArgumentError(`the duration must be at most ${MAX_TIMEOUT_MS} ms (about 24.8 days).`);
  return ms;
}

/** A duration as parseDuration reads it, or 0 (e.g. `--settle 0`: no settle time). */
export function parseDurationOrZero(value: string): number {
  if (/^\s*0+(?:\.0+)?\s*(ms|s|m)?\s*$/.test(value)) return 0;
  return parseDuration(value);
}

/** A whole number of workers from 1, or `auto` (one per core). */
export function parseWorkers(value: string): number {
  if (value === 'auto') return os.availableParallelism();
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1024) {
    throw new InvalidArgumentError('expected a whole number of workers from 1 to 1024, or auto.');
  }
  return Number(value);
}

export function parseLogLevel(value: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}.`);
  return value as LogLevel;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
