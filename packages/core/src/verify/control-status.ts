// `status` over the app's control socket, as `baton status --json` asks it.
import { sendControlRequest } from '../control/client';
import { errorFromWire } from '../errors';
import type { ControlStatus } from '../wire/control';

/** The status the app's control socket answers; rejects when it does not answer within timeoutMs. */
export async function askStatus(socket: string, timeoutMs: number): Promise<ControlStatus> {
  const exchange = sendControlRequest(socket, { command: 'status' });
  const timer = setTimeout(() => exchange.close(), timeoutMs);
  try {
    const result = await exchange.result;
    if (!result.ok) throw errorFromWire(result.error);
    if (!('status' in result)) throw new Error(`control socket ${socket} answered without a status`);
    return result.status;
  } finally {
    clearTimeout(timer);
    exchange.close();
  }
}

/** The status, or undefined when the socket does not answer (not open yet, or between owners). */
export async function tryStatus(socket: string, timeoutMs: number): Promise<ControlStatus | undefined> {
  try {
    return await askStatus(socket, timeoutMs);
  } catch {
    return undefined;
  }
}

/** Every wanted worker (in place: the one generation) is ready. */
export function isServing(status: ControlStatus): boolean {
  if (status.health !== undefined) return status.health === 'serving';
  return status.workers.ready >= status.workers.wanted;
}
