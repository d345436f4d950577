import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** TLS tests make their certificate with openssl; where it is missing they are skipped. */
export const HAS_OPENSSL = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

/** A throw-away self-signed certificate for localhost, written to `dir` (no key material in the repository). */
export function makeCertificate(dir: string): { keyFile: string; certFile: string } {
  const files = { keyFile: path.join(dir, 'key.pem'), certFile: path.join(dir, 'cert.pem') };
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      files.keyFile,
      '-out',
      files.certFile,
    ],
    { stdio: 'pipe', timeout: 20_000 },
  );
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  return files;
}

let credentials: { key: Buffer; cert: Buffer } | undefined;

/** The same certificate in memory, for servers made in the test process; made once per test file. */
export function tlsCredentials(): { key: Buffer; cert: Buffer } {
  if (credentials) return credentials;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-tls-'));
  try {
    const { keyFile, certFile } = makeCertificate(dir);
    credentials = { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) };
    return credentials;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
