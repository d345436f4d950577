// Counts the TCP connections the load clients open, with when and which client kind opened each. A
// reload that closes kept-alive connections makes every client reconnect; one that moves them to the
// next generation (connection migration) should not: this is how the bench sees the difference from
// the clients' side, whatever the server says.
//
// Node publishes every client socket it creates on the `net.client.socket` diagnostics channel (undici,
// http.Agent and autocannon all go through net.connect), so the total is exact. Which kind opened it is
// read from where the call came from: http.Agent#createConnection (the documented hook every Agent
// goes through) for the two http.Agent kinds, the call stack for undici and autocannon.
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import { now } from '@baton/core/verify';

/** Set while an http.Agent creates a socket: the kind of client that agent belongs to. */
let agentKind;

/**
 * The idle clients (`startIdle` of @baton/core/verify) each own an Agent with maxSockets 1; the pooled
 * http.Agent client shares one Agent with several sockets (config: agent.maxSockets > 1).
 */
const kindOfAgent = (agent) => (agent.maxSockets === 1 ? 'idle' : 'agent');

function kindFromStack() {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  if (stack.includes('/autocannon/')) return 'autocannon';
  if (stack.includes('/undici/')) return 'undici';
  return 'other';
}

/** Starts counting; returns a function that gives the log so far ({ kinds, t, kind }, columnar). */
export function countConnections() {
  const kinds = [];
  const t = [];
  const kind = [];
  const create = http.Agent.prototype.createConnection;
  http.Agent.prototype.createConnection = function createConnection(...args) {
    agentKind = kindOfAgent(this);
    try {
      return create.apply(this, args);
    } finally {
      agentKind = undefined;
    }
  };
  diagnosticsChannel.subscribe('net.client.socket', () => {
    const k = agentKind ?? kindFromStack();
    let i = kinds.indexOf(k);
    if (i < 0) i = kinds.push(k) - 1;
    t.push(Math.round(now() * 10) / 10);
    kind.push(i);
  });
  return () => ({ kinds, t, kind });
}
