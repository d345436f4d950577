// Processes: start the bench's servers, see whether a pid lives and how much memory it holds, kill by pid.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { now, sleep } from '@baton/core/verify';

/** A port that is free on 127.0.0.1 right now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Live and not a zombie (a re-parented generation may wait a moment to be reaped). */
export function isAlive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself contain spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Resident set size in bytes, or undefined when the process is gone. */
export function rssBytes(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function signal(pid, name) {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/** Waits (bounded) until the pid is gone; returns the moment it was seen gone, or undefined. */
export async function waitGone(pid, timeoutMs, pollMs = 5) {
  const deadline = now() + timeoutMs;
  while (now() < deadline) {
    if (!isAlive(pid)) return now();
    await sleep(pollMs);
  }
  return undefined;
}

/** SIGKILL each pid that is still alive and wait (bounded) for it to go. */
export async function killPids(pids) {
  for (const pid of pids) if (isAlive(pid)) signal(pid, 'SIGKILL');
  for (const pid of pids) await waitGone(pid, 5000);
}

/**
 * Starts `node script` with the bench's environment; stdout and stderr go to the log file. The
 * process's own successors (baton generations) inherit the same log file.
 */
export function startNode(script, { env, log, args = [] }) {
  const fd = fs.openSync(log, 'a');
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  const spawnedAt = now();
  child.on('error', () => {});
  return { child, pid: child.pid, spawnedAt };
}

/** Runs a command to completion (bounded); resolves with its exit code and output. */
export function runCommand(file, args, { env, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, output: `${output}${error.message}` });
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, signal: sig, output });
    });
  });
}

let clockTicks;
/** CPU time (user + system) a process has used so far, in ms; undefined when it is gone. */
export function cpuMs(pid) {
  clockTicks ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      return 100;
    }
  })();
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3 (state).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return undefined;
  }
}
