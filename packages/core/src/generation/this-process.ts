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

/**
 * The one generation this process is, shared by every copy of @baton/core loaded in it (an adapter
 * that brought its own, a bundled one): two state machines would each think the other's servers are
 * not theirs, and reload() from one would say "not listening" while the other serves. The registry key
 * carries the state machine's protocol; a copy with another protocol cannot share it and says so.
 */
const REGISTRY = Symbol.for('baton.generation');
const PROTOCOL = 1;

interface Registered {
  protocol: number;
  generation: Generation;
  /** Where the copy that created it was loaded from, for the error below. */
  loadedFrom: string;
}

function sharedGeneration(): Generation {
  const global = globalThis as { [REGISTRY]?: Registered };
  const registered = global[REGISTRY];
  if (registered === undefined) {
    const created: Registered = {
      protocol: PROTOCOL,
      generation: createGeneration(processHost()),
      loadedFrom: __dirname,
    };
    global[REGISTRY] = created;
    return created.generation;
  }
  if (registered.protocol !== PROTOCOL) {
    throw new BatonError(
      'ERR_BATON_UNSUPPORTED',
      `two incompatible copies of @baton/core are loaded: ${registered.loadedFrom} (protocol ${registered.protocol}) and ${__dirname} (protocol ${PROTOCOL}); ` +
        'install one version (npm ls @baton/core shows where they come from)',
    );
  }
  return registered.generation;
}

export const generation = sharedGeneration();
