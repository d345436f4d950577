// Reads the servers' lifecycle events (apps/events.cjs) as they are appended, and waits for them.
import fs from 'node:fs';
import { now, sleep } from '@baton/core/verify';

export class EventLog {
  constructor(file) {
    this.file = file;
    fs.writeFileSync(file, '');
    this.fd = fs.openSync(file, 'r');
    this.offset = 0;
    this.rest = '';
    /** Every event seen, in file order. */
    this.events = [];
  }

  /** Reads whatever was appended since the last call. */
  poll() {
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = fs.readSync(this.fd, buffer, 0, buffer.length, this.offset);
      if (n <= 0) break;
      this.offset += n;
      this.rest += buffer.toString('utf8', 0, n);
    }
    const lines = this.rest.split('\n');
    this.rest = lines.pop();
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        this.events.push(JSON.parse(line));
      } catch {
        // A torn line would be a bench bug; skip it rather than stop the run.
      }
    }
    return this.events;
  }

  /** The first event (in file order, from index `from`) that matches, waiting up to timeoutMs. */
  async waitFor(what, match, timeoutMs, from = 0) {
    const deadline = now() + timeoutMs;
    for (;;) {
      const events = this.poll();
      for (let i = from; i < events.length; i += 1) if (match(events[i])) return events[i];
      if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(2);
    }
  }

  /** Pids of every server process that said it started. */
  pids() {
    return [
      ...new Set(
        this.poll()
          .filter((e) => e.ev === 'start')
          .map((e) => e.pid),
      ),
    ];
  }

  close() {
    fs.closeSync(this.fd);
  }
}
