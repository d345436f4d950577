import type { ConnectionCounts } from '../drain-tracker';

export interface Output {
  stdout(line: string): void;
  stderr(line: string): void;
}

export const consoleOutput: Output = {
  stdout: (line) => void process.stdout.write(`${line}\n`),
  stderr: (line) => void process.stderr.write(`${line}\n`),
};

export function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function counts(c: ConnectionCounts): string {
  return `${c.sockets} connection${c.sockets === 1 ? '' : 's'} (${c.activeRequests} active request${c.activeRequests === 1 ? '' : 's'}, ${c.idle} idle, ${c.upgraded} upgraded)`;
}
