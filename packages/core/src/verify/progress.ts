// Progress while verify runs, on stderr: one bar redrawn in place on a terminal, plain lines otherwise
// (CI logs, pipes). No library: the bar is ASCII on one line, so `\r` and "clear to end of line" are
// all it needs, and @baton/core, installed with every app, stays small.

export interface ProgressSink {
  /** A step worth a line of its own (started, reload 3 ok, stopping). */
  step(line: string): void;
  /** The current state, for the bar: `done` of `total` reloads, and a short status. */
  update(done: number, total: number, status: string): void;
  /** Clears the bar, if any. */
  end(): void;
}

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

const BAR_WIDTH = 20;

/** A bar on a terminal, lines elsewhere; `quiet` prints nothing. */
export function progressFor(stream: ProgressStream, quiet = false): ProgressSink {
  if (quiet) return { step: () => undefined, update: () => undefined, end: () => undefined };
  if (!stream.isTTY) {
    return {
      step: (line) => void stream.write(`baton verify: ${line}\n`),
      update: () => undefined,
      end: () => undefined,
    };
  }
  let bar = '';
  const clear = (): void => void stream.write('\r\x1b[K');
  return {
    step: (line) => {
      clear();
      stream.write(`baton verify: ${line}\n`);
      if (bar) stream.write(bar);
    },
    update: (done, total, status) => {
      const filled = total > 0 ? Math.round((BAR_WIDTH * Math.min(done, total)) / total) : 0;
      const text = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${done}/${total} reloads  ${status}`;
      bar = text.slice(0, Math.max(40, (stream.columns || 80) - 1));
      clear();
      stream.write(bar);
    },
    end: () => {
      if (bar) clear();
      bar = '';
    },
  };
}
