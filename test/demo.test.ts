import { spawn } from 'node:child_process';
import path from 'node:path';
import { killAll, rememberPid, ROOT } from './helpers/processes';

afterEach(killAll);

// The README's first command ends in this demo; keep it working for both frameworks.
test.each(['express', 'koa'])(
  'the live demo on %s: two reloads under keep-alive load, zero failed requests',
  async (framework) => {
    const demo = spawn(
      process.execPath,
      [path.join(ROOT, 'examples', 'demo.js'), '--', '--framework', framework, '--seconds', '4', '--clients', '6'],
      {
        env: { ...process.env, NODE_PATH: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => demo.kill('SIGKILL'), 50_000);
    const code = await new Promise<number | null>((resolve) => demo.once('exit', resolve));
    clearTimeout(timer);
    // Should the demo have been killed before its own clean-up, its servers are killed by pid in teardown.
    for (const match of output.matchAll(/\(pid (\d+)\)/g)) rememberPid(Number(match[1]));
    expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('failed requests: 0') });
    expect(output).toMatch(/versions seen: +v1\.0: \d+, v1\.1: \d+, v1\.2: \d+/);
    expect(output).toMatch(/upgrade response: 200 restart ok/);
  },
);
