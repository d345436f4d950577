import { execFileSync } from 'node:child_process';
import { ROOT } from './helpers/processes';

function node(args: string[]): string {
  return execFileSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, BATON_LOG: 'silent' },
  }).trim();
}

describe.each(['@baton/core', '@baton/express', '@baton/koa', '@baton/fastify'])('%s as a package', (name) => {
  const api = ['listen', 'reload', 'configure', 'ready', 'status', 'onDrain', 'onExit', 'BatonError', 'DEFAULTS'];

  test('loads with require()', () => {
    const out = node([
      '-e',
      `const m = require('${name}'); console.log(JSON.stringify(${JSON.stringify(api)}.map((k) => typeof m[k])))`,
    ]);
    expect(JSON.parse(out)).toEqual(api.map((k) => (k === 'DEFAULTS' ? 'object' : 'function')));
  });

  test('loads with import, named exports included', () => {
    const out = node([
      '--input-type=module',
      '-e',
      `import { ${api.join(', ')} } from '${name}'; console.log(JSON.stringify([${api.join(', ')}].map((v) => typeof v)))`,
    ]);
    expect(JSON.parse(out)).toEqual(api.map((k) => (k === 'DEFAULTS' ? 'object' : 'function')));
  });
});

test("the @baton/core/cli subpath loads with require() and import (the adapters' bin/baton.js use it)", () => {
  const imported = "import { runCli } from '@baton/core/cli'; console.log(typeof runCli)";
  expect(node(['-e', "console.log(typeof require('@baton/core/cli').runCli)"])).toBe('function');
  expect(node(['--input-type=module', '-e', imported])).toBe('function');
});

test('on Windows, listen works and reload() rejects with ERR_BATON_UNSUPPORTED', () => {
  // Windows cannot run here; the platform check is the only thing that differs, so pretend.
  const script = `
    Object.defineProperty(process, 'platform', { value: 'win32' });
    const http = require('node:http');
    const { listen, reload, configure } = require('@baton/core');
    configure({ handleSignals: false, logLevel: 'silent' });
    const server = listen(http.createServer((q, s) => s.end('ok')), 0, '127.0.0.1', () => {
      setImmediate(() => reload().then(
        () => { console.log('resolved'); process.exit(1); },
        (e) => { console.log(e.code); server.close(); },
      ));
    });`;
  expect(node(['-e', script])).toBe('ERR_BATON_UNSUPPORTED');
});
