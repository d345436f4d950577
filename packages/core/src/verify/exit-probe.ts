// Preloaded by `baton verify` into every Node process of the app under test (NODE_OPTIONS=--require):
// records each process's exit code, so the exit code of the final stop is known even when the process
// that stopped is a later generation, which is not verify's child and whose exit only init sees.
// Nothing else: no output, no timers, nothing loaded but node:fs.
import fs from 'node:fs';

const file = process.env.BATON_VERIFY_EXIT_FILE;
if (file) {
  process.on('exit', (code) => {
    try {
      fs.appendFileSync(file, `${JSON.stringify({ pid: process.pid, code, at: Date.now() })}\n`);
    } catch {
      // The run is over or its directory is gone: nobody is left to read it.
    }
  });
}
