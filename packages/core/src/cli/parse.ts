import os from 'node:os';
import { InvalidArgumentError } from 'commander';
import { LOG_LEVELS, type LogLevel } from '../logger';
import { UsageError } from './target';

/** `30` (seconds), `500ms`, `30s`, `2m`: returns milliseconds. Commander names the option in its error. */
export function parseDuration(value: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected a duration such as 30 (seconds), 30s, 500ms or 2m.');
  const amount = Number(match[1]);
  const unit = match[2] ?? 's';
  const ms = Math.round(unit === 'ms' ? amount : unit === 'm' ? amount * 60_000 : amount * 1000);
  if (ms <= 0) throw new InvalidArgumentError('the duration must be greater than 0.');
  return ms;
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
  if (!(LOG_LEVELS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}.`);
  return value as LogLevel;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** BATON_*_MS variables hold milliseconds; a bad one is named with its value, like everywhere else. */
export function msFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) <= 0) {
    throw new UsageError(`${name}=${JSON.stringify(raw)} is invalid: expected a whole number of milliseconds greater than 0`);
  }
  return Number(raw);
}
