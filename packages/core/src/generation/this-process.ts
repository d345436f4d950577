import { BatonError } from '../errors';
import { HANDOFF_VARIABLES, readInheritance, type Inheritance } from '../wire/handoff-env';
import { Generation } from './generation';
import { processHost, type Host } from './host';
import { InPlaceUpstream } from './in-place';
import { SupervisedUpstream } from './supervised';
import type { Upstream } from './upstream';

/**
 * Reads what this process inherited, takes the handoff variables out of its environment (the app's
 * own child processes must never see, and adopt, our sockets), and chooses the role once.
 */
export function createGeneration(host: Host): Generation {
  let inherited: Inheritance | BatonError;
  try {
    inherited = readInheritance(host.env, host.pid, host.ppid);
  } catch (error) {
    inherited = error as BatonError;
  }
  for (const name of HANDOFF_VARIABLES) delete host.env[name];
  return new Generation(host, chooseUpstream(host, inherited), inherited);
}

function chooseUpstream(host: Host, inherited: Inheritance | BatonError): Upstream {
  const inheritance: Inheritance = inherited instanceof BatonError ? { source: 'none', sockets: [] } : inherited;
  // A worker of `baton run` talks to its supervisor over IPC; without the channel (a launcher that
  // kept it) it can only serve in place.
  if (inheritance.supervisorPid !== undefined && host.parent !== undefined) {
    return new SupervisedUpstream(host, host.parent, inheritance.supervisorPid);
  }
  return new InPlaceUpstream(host, inheritance);
}

/** The one generation this process is. */
export const generation = createGeneration(processHost());
