// Reads what exit-probe.ts recorded: the exit code of every Node process of the app that exited.
import fs from 'node:fs';
import path from 'node:path';

/** The preload that records exit codes, next to this file once built. */
export const EXIT_PROBE = path.join(__dirname, 'exit-probe.js');

/** NODE_OPTIONS with the exit probe added (quoted: a path may hold spaces). */
export function withExitProbe(nodeOptions: string | undefined): string {
  const probe = `--require ${JSON.stringify(EXIT_PROBE)}`;
  return nodeOptions && nodeOptions.trim() !== '' ? `${nodeOptions} ${probe}` : probe;
}

/** pid → exit code, from the probe's file. */
export function recordedExits(file: string): Map<number, number> {
  const exits = new Map<number, number>();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return exits;
  }
  for (const line of text.split('\n')) {
    try {
      const { pid, code } = JSON.parse(line) as { pid?: unknown; code?: unknown };
      if (typeof pid === 'number' && typeof code === 'number') exits.set(pid, code);
    } catch {
      // A torn or empty line.
    }
  }
  return exits;
}
