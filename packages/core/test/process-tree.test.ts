import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { descendantsOf } from '../src/internal/process-tree';

function fakeProc(table: Record<number, { ppid: number; comm: string }>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-proc-'));
  for (const [pid, { ppid, comm }] of Object.entries(table)) {
    fs.mkdirSync(path.join(dir, pid));
    fs.writeFileSync(path.join(dir, pid, 'stat'), `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560\n`);
  }
  fs.mkdirSync(path.join(dir, 'self'));
  return dir;
}

test('children, grandchildren, and no one else; names with spaces and parentheses do not confuse it', () => {
  const proc = fakeProc({
    10: { ppid: 1, comm: 'node' },
    11: { ppid: 10, comm: 'sh -c (x) y' },
    12: { ppid: 11, comm: 'sleep' },
    13: { ppid: 10, comm: 'worker' },
    20: { ppid: 1, comm: 'unrelated' },
    21: { ppid: 20, comm: 'sleep' },
  });
  expect(descendantsOf(10, proc).sort()).toEqual([11, 12, 13]);
  expect(descendantsOf(12, proc)).toEqual([]);
  fs.rmSync(proc, { recursive: true, force: true });
});

test('no /proc: nothing found, nothing thrown', () => {
  expect(descendantsOf(1, '/nonexistent')).toEqual([]);
});

test('a real process tree: sh starts sleep; both are found from the test process', async () => {
  const sh = spawn('sh', ['-c', 'sleep 30 & sleep 30; wait'], { stdio: 'ignore' });
  try {
    const until = Date.now() + 5000;
    let found: number[] = [];
    while (Date.now() < until) {
      found = descendantsOf(process.pid);
      if (found.includes(sh.pid as number) && descendantsOf(sh.pid as number).length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(found).toContain(sh.pid);
    expect(descendantsOf(sh.pid as number)).toHaveLength(2);
  } finally {
    for (const pid of descendantsOf(sh.pid as number)) process.kill(pid, 'SIGKILL');
    sh.kill('SIGKILL');
  }
});
