// Single requests outside the load: "does this path answer yet?" and "does anything still accept here?".
import http from 'node:http';
import net from 'node:net';
import { errorCode } from './recorder';
import { requestAddress, type HttpTarget } from './target';

export interface ProbeResult {
  status?: number;
  error?: string;
}

/** One GET on a new connection: its status, or the error code. */
export function probe(target: HttpTarget, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get({ ...requestAddress(target), path, agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.on('error', (error) => resolve({ error: errorCode(error) }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
    req.on('error', (error) => resolve({ error: errorCode(error) }));
  });
}

/** A 4xx that says the path is wrong, not that the app is still starting. */
export function isDefinitiveRefusal(status: number): boolean {
  return status >= 400 && status < 500 && ![408, 425, 429].includes(status);
}

/** True when something accepts a connection at `target` within timeoutMs. */
export function accepts(target: HttpTarget, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(
      'socketPath' in target ? { path: target.socketPath } : { host: target.host, port: target.port },
    );
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
