// Watches a strategy's processes while it runs: how many are alive at once, and each one's memory.
import { now } from '@baton/core/verify';
import { isAlive, rssBytes } from './procs.mjs';

export class ProcessSampler {
  /** `known()` lists { pid, role } of every server process seen so far. */
  constructor(known, intervalMs = 100) {
    this.known = known;
    this.intervalMs = intervalMs;
    this.byPid = new Map();
    this.timeline = [];
    this.peakCount = 0;
    this.peakTotalRss = 0;
  }

  start() {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop() {
    clearInterval(this.timer);
    this.sample();
  }

  sample() {
    const t = now();
    let count = 0;
    let total = 0;
    for (const { pid, role } of this.known()) {
      if (!isAlive(pid)) continue;
      const rss = rssBytes(pid);
      if (rss === undefined) continue;
      count += 1;
      total += rss;
      const entry = this.byPid.get(pid) ?? { pid, role, maxRss: 0, firstSeen: t, lastSeen: t };
      entry.maxRss = Math.max(entry.maxRss, rss);
      entry.lastSeen = t;
      this.byPid.set(pid, entry);
    }
    this.peakCount = Math.max(this.peakCount, count);
    this.peakTotalRss = Math.max(this.peakTotalRss, total);
    this.timeline.push({ t, count, rss: total });
  }

  summary() {
    return {
      peakProcesses: this.peakCount,
      peakTotalRss: this.peakTotalRss,
      processes: [...this.byPid.values()],
      timeline: this.timeline,
    };
  }
}
