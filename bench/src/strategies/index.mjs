import { baton } from './baton.mjs';
import { batonSupervised } from './baton-supervised.mjs';
import { cluster } from './cluster.mjs';
import { naive } from './naive.mjs';
import { pm2Strategy } from './pm2.mjs';
import { terminator } from './terminator.mjs';

/** In report order: baton first, then what users would pick instead. */
export const STRATEGIES = [baton, batonSupervised, naive, terminator, pm2Strategy, cluster];
