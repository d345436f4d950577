import { BatonError } from '../src/errors';
import * as publicApi from '../src/index';
import { LOG_LEVELS } from '../src/logger';
import {
  DEFAULTS,
  ENV_VARIABLES,
  MAX_TIMEOUT_MS,
  optionsFromEnv,
  resolveOptions,
  validateOptions,
  type BatonOptions,
} from '../src/options';
import { resolveSupervisorOptions, SUPERVISOR_DEFAULTS } from '../src/supervisor/options';

function thrown(fn: () => unknown): BatonError {
  try {
    fn();
  } catch (error) {
    return error as BatonError;
  }
  throw new Error('expected a BatonError, nothing was thrown');
}

/** The value as a JSON string without its quotes: how a value with control characters is shown. */
function shown(raw: string): string {
  return JSON.stringify(raw).slice(1, -1);
}

const logger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

describe('DEFAULTS', () => {
  test('documents the defaults the code resolves to', () => {
    expect(DEFAULTS).toEqual({
      readyTimeoutMs: 30_000,
      drainTimeoutMs: 30_000,
      settleMs: 5_000,
      successorEnv: 'initial',
      migrateConnections: true,
      shutdownDelayMs: 0,
      logFormat: 'text',
      logLevel: 'info',
      readiness: 'auto',
      handleSignals: true,
      pidFile: undefined,
      control: undefined,
    });
  });

  test('is exactly what resolveOptions gives with nothing set', () => {
    expect(resolveOptions({}, {})).toEqual({ ...DEFAULTS });
    expect(resolveOptions(validateOptions({}), optionsFromEnv({}))).toEqual({ ...DEFAULTS });
  });

  test('is frozen, and the public API exports the same object', () => {
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
    expect(publicApi.DEFAULTS).toBe(DEFAULTS);
    expect(publicApi.ENV_VARIABLES).toBe(ENV_VARIABLES);
  });

  test('every default passes validation', () => {
    // pidFile and control default to undefined, which validateOptions drops.
    const rest = Object.fromEntries(
      Object.entries(DEFAULTS).filter(([name]) => name !== 'pidFile' && name !== 'control'),
    );
    expect(validateOptions(rest)).toEqual(rest);
  });

  test('the default log level is a known level', () => {
    expect(LOG_LEVELS).toContain(DEFAULTS.logLevel);
  });
});

describe('optionsFromEnv', () => {
  test('ENV_VARIABLES is the documented set', () => {
    expect(ENV_VARIABLES).toEqual({
      BATON_PID_FILE: 'pidFile',
      BATON_READY_TIMEOUT_MS: 'readyTimeoutMs',
      BATON_DRAIN_TIMEOUT_MS: 'drainTimeoutMs',
      BATON_SETTLE_MS: 'settleMs',
      BATON_SHUTDOWN_DELAY_MS: 'shutdownDelayMs',
      BATON_MIGRATE_CONNECTIONS: 'migrateConnections',
      BATON_LOG_FORMAT: 'logFormat',
      BATON_LOG: 'logLevel',
      BATON_CONTROL: 'control',
    });
  });

  test('settleMs: 0 turns the rollback window off; a negative, fractional or huge value is named with its value', () => {
    expect(validateOptions({ settleMs: 0 })).toEqual({ settleMs: 0 });
    expect(optionsFromEnv({ BATON_SETTLE_MS: '0' })).toEqual({ settleMs: 0 });
    expect(optionsFromEnv({ BATON_SETTLE_MS: '2500' })).toEqual({ settleMs: 2500 });
    expect(() => validateOptions({ settleMs: -1 })).toThrow(
      'settleMs=-1 is invalid: expected a whole number of milliseconds from 0 to 2147483647',
    );
    expect(() => validateOptions({ settleMs: 1.5 })).toThrow('settleMs=1.5 is invalid');
    expect(() => optionsFromEnv({ BATON_SETTLE_MS: 'soon' })).toThrow('BATON_SETTLE_MS="soon" is invalid');
    expect(() => optionsFromEnv({ BATON_SETTLE_MS: '9999999999' })).toThrow('BATON_SETTLE_MS="9999999999" is invalid');
  });

  test('BATON_MIGRATE_CONNECTIONS takes true/false or 1/0; anything else is named with its value', () => {
    expect(optionsFromEnv({ BATON_MIGRATE_CONNECTIONS: '0' })).toEqual({ migrateConnections: false });
    expect(optionsFromEnv({ BATON_MIGRATE_CONNECTIONS: 'false' })).toEqual({ migrateConnections: false });
    expect(optionsFromEnv({ BATON_MIGRATE_CONNECTIONS: ' TRUE ' })).toEqual({ migrateConnections: true });
    expect(optionsFromEnv({ BATON_MIGRATE_CONNECTIONS: '1' })).toEqual({ migrateConnections: true });
    for (const raw of ['yes', 'off', 'constructor', '2'])
      expect(() => optionsFromEnv({ BATON_MIGRATE_CONNECTIONS: raw })).toThrow(
        `BATON_MIGRATE_CONNECTIONS="${raw}" is invalid: expected true | false (or 1 | 0)`,
      );
    expect(validateOptions({ migrateConnections: false })).toEqual({ migrateConnections: false });
    expect(() => validateOptions({ migrateConnections: 'no' as never })).toThrow(
      'migrateConnections="no" is invalid: expected true | false',
    );
  });

  test('no variables: no options', () => {
    expect(optionsFromEnv({})).toEqual({});
  });

  test('unrelated variables are ignored', () => {
    expect(optionsFromEnv({ PATH: '/bin', BATON_UNKNOWN: 'x', baton_log: 'nope' })).toEqual({});
  });

  test('reads every variable into its option', () => {
    expect(
      optionsFromEnv({
        BATON_PID_FILE: '/run/app.pid',
        BATON_READY_TIMEOUT_MS: '1500',
        BATON_DRAIN_TIMEOUT_MS: '2500',
        BATON_LOG: 'debug',
        BATON_CONTROL: '/run/app.ctl',
      }),
    ).toEqual({
      pidFile: '/run/app.pid',
      readyTimeoutMs: 1500,
      drainTimeoutMs: 2500,
      logLevel: 'debug',
      control: '/run/app.ctl',
    });
  });

  test('numbers and levels tolerate surrounding blanks', () => {
    expect(optionsFromEnv({ BATON_READY_TIMEOUT_MS: ' 250 ', BATON_LOG: 'warn\n' })).toEqual({
      readyTimeoutMs: 250,
      logLevel: 'warn',
    });
  });

  test('the largest timeout a Node timer can wait is accepted', () => {
    expect(optionsFromEnv({ BATON_DRAIN_TIMEOUT_MS: '2147483647' })).toEqual({ drainTimeoutMs: 2_147_483_647 });
  });

  test.each(LOG_LEVELS.map((level) => [level]))('BATON_LOG=%s is accepted', (level) => {
    expect(optionsFromEnv({ BATON_LOG: level })).toEqual({ logLevel: level });
  });

  test('an empty variable counts as unset', () => {
    const env = Object.fromEntries(Object.keys(ENV_VARIABLES).map((name) => [name, '']));
    expect(optionsFromEnv(env)).toEqual({});
    // ...so the code's choice (or the default) stands.
    expect(
      resolveOptions({ drainTimeoutMs: 1234 }, optionsFromEnv({ BATON_DRAIN_TIMEOUT_MS: '' })).drainTimeoutMs,
    ).toBe(1234);
  });

  const badValues: Array<[string, string]> = [
    ['BATON_READY_TIMEOUT_MS', 'abc'],
    ['BATON_READY_TIMEOUT_MS', '0'],
    ['BATON_READY_TIMEOUT_MS', '-5'],
    ['BATON_READY_TIMEOUT_MS', '1.5'],
    ['BATON_READY_TIMEOUT_MS', '1e3'],
    ['BATON_READY_TIMEOUT_MS', '10s'],
    ['BATON_READY_TIMEOUT_MS', '0x10'],
    ['BATON_READY_TIMEOUT_MS', '   '],
    ['BATON_READY_TIMEOUT_MS', '99999999999999999999'],
    // Node's timers cannot wait longer than 2^31-1 ms: a longer timeout would fire after 1 ms.
    ['BATON_READY_TIMEOUT_MS', '2147483648'],
    ['BATON_DRAIN_TIMEOUT_MS', 'soon'],
    ['BATON_DRAIN_TIMEOUT_MS', '0'],
    ['BATON_DRAIN_TIMEOUT_MS', '-1'],
    ['BATON_DRAIN_TIMEOUT_MS', '3000000000'],
    ['BATON_DRAIN_TIMEOUT_MS', '30_000'],
    ['BATON_LOG', 'verbose'],
    ['BATON_LOG', 'trace'],
    ['BATON_LOG', 'INFO'],
    ['BATON_LOG', ' '],
    ['BATON_LOG', ' Debug '],
    ['BATON_PID_FILE', '   '],
    ['BATON_PID_FILE', '/run/a\0b.pid'],
    ['BATON_CONTROL', ' \t'],
    ['BATON_CONTROL', '/run/\0ctl'],
  ];

  test.each(badValues)('%s=%j throws ERR_BATON_INVALID_OPTION naming the variable and the value', (variable, raw) => {
    const error = thrown(() => optionsFromEnv({ [variable]: raw }));
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe('ERR_BATON_INVALID_OPTION');
    expect(error.message).toContain(`${variable}=`);
    expect(error.message).toContain(shown(raw));
  });

  test('a bad variable is reported even when the others are fine', () => {
    const error = thrown(() =>
      optionsFromEnv({ BATON_LOG: 'info', BATON_DRAIN_TIMEOUT_MS: 'x', BATON_PID_FILE: '/run/a.pid' }),
    );
    expect(error.message).toContain('BATON_DRAIN_TIMEOUT_MS="x"');
  });

  test('reads process.env by default', () => {
    const saved = process.env.BATON_READY_TIMEOUT_MS;
    process.env.BATON_READY_TIMEOUT_MS = '4321';
    try {
      expect(optionsFromEnv().readyTimeoutMs).toBe(4321);
    } finally {
      if (saved === undefined) delete process.env.BATON_READY_TIMEOUT_MS;
      else process.env.BATON_READY_TIMEOUT_MS = saved;
    }
  });
});

describe('validateOptions (configure)', () => {
  test('keeps every valid option', () => {
    const options: BatonOptions = {
      pidFile: 'app.pid',
      readyTimeoutMs: 1,
      drainTimeoutMs: 2_147_483_647,
      logLevel: 'silent',
      logger,
      readiness: 'manual',
      handleSignals: false,
      control: '/run/app.ctl',
    };
    const valid = validateOptions(options);
    expect(valid).toEqual(options);
    expect(valid.logger).toBe(logger);
    expect(valid).not.toBe(options);
  });

  test('drops undefined values, so they cannot erase a default', () => {
    const valid = validateOptions({ readyTimeoutMs: undefined, pidFile: undefined, logLevel: 'warn' });
    expect(valid).toEqual({ logLevel: 'warn' });
    expect('readyTimeoutMs' in valid).toBe(false);
    expect(resolveOptions(valid, {}).readyTimeoutMs).toBe(DEFAULTS.readyTimeoutMs);
  });

  test('rejects unknown keys, naming them', () => {
    for (const name of ['pidfile', 'drainTimeout', 'port', 'BATON_LOG']) {
      const error = thrown(() => validateOptions({ [name]: 1 } as BatonOptions));
      expect(error).toBeInstanceOf(BatonError);
      expect(error.code).toBe('ERR_BATON_INVALID_OPTION');
      expect(error.message).toContain(`${name}=1`);
      expect(error.message).toContain('known options');
    }
  });

  test('an unknown key is rejected even when its value is undefined (a typo is still a typo)', () => {
    expect(thrown(() => validateOptions({ readyTimeout: undefined } as BatonOptions)).message).toContain(
      'readyTimeout=',
    );
  });

  const badOptions: Array<[string, unknown, string]> = [
    ['readyTimeoutMs', '1000', '"1000"'],
    ['readyTimeoutMs', 0, '0'],
    ['readyTimeoutMs', -1, '-1'],
    ['readyTimeoutMs', 1.5, '1.5'],
    ['readyTimeoutMs', Number.NaN, 'NaN'],
    ['readyTimeoutMs', Number.POSITIVE_INFINITY, 'Infinity'],
    ['readyTimeoutMs', 2 ** 53, String(2 ** 53)],
    ['drainTimeoutMs', 2_147_483_648, '2147483648'],
    ['drainTimeoutMs', null, 'null'],
    ['drainTimeoutMs', true, 'true'],
    ['logLevel', 'loud', '"loud"'],
    ['logLevel', 3, '3'],
    ['readiness', 'later', '"later"'],
    ['readiness', true, 'true'],
    ['handleSignals', 'yes', '"yes"'],
    ['handleSignals', 1, '1'],
    ['pidFile', 42, '42'],
    ['pidFile', '', '""'],
    ['pidFile', '  ', '"  "'],
    ['pidFile', 'a\0b', '"a\\u0000b"'],
    ['control', false, 'false'],
    ['control', '', '""'],
    ['logger', console.log, ''],
    ['logger', { error: () => undefined, warn: () => undefined, info: () => undefined }, ''],
    ['logger', 'pino', '"pino"'],
    ['logger', null, 'null'],
  ];

  test.each(badOptions)(
    '%s=%p is rejected with ERR_BATON_INVALID_OPTION naming option and value',
    (name, value, text) => {
      const error = thrown(() => validateOptions({ [name]: value } as BatonOptions));
      expect(error).toBeInstanceOf(BatonError);
      expect(error.code).toBe('ERR_BATON_INVALID_OPTION');
      expect(error.message).toContain(`${name}=${text}`);
    },
  );

  test('values that cannot be turned into a string are still reported as a BatonError', () => {
    for (const name of ['logger', 'pidFile', 'readiness', 'bogus']) {
      const error = thrown(() => validateOptions({ [name]: Object.create(null) } as BatonOptions));
      expect(error).toBeInstanceOf(BatonError);
      expect(error.code).toBe('ERR_BATON_INVALID_OPTION');
      expect(error.message).toContain(`${name}=`);
    }
  });

  test('options that are not an object are rejected', () => {
    for (const value of [null, undefined, 'fast', 42]) {
      const error = thrown(() => validateOptions(value as unknown as BatonOptions));
      expect(error).toBeInstanceOf(BatonError);
      expect(error.code).toBe('ERR_BATON_INVALID_OPTION');
      expect(error.message).toContain('options=');
    }
  });
});

describe('resolveOptions: defaults < code < environment', () => {
  test('code overrides defaults', () => {
    const resolved = resolveOptions({ drainTimeoutMs: 1000, logLevel: 'warn' }, {});
    expect(resolved.drainTimeoutMs).toBe(1000);
    expect(resolved.logLevel).toBe('warn');
    expect(resolved.readyTimeoutMs).toBe(DEFAULTS.readyTimeoutMs);
  });

  test('the environment overrides code, option by option', () => {
    const fromCode = validateOptions({
      drainTimeoutMs: 1000,
      readyTimeoutMs: 2000,
      pidFile: '/code.pid',
      readiness: 'manual',
      logger,
    });
    const fromEnv = optionsFromEnv({ BATON_DRAIN_TIMEOUT_MS: '3000', BATON_PID_FILE: '/env.pid' });
    const resolved = resolveOptions(fromCode, fromEnv);
    expect(resolved).toEqual({
      ...DEFAULTS,
      drainTimeoutMs: 3000,
      readyTimeoutMs: 2000,
      pidFile: '/env.pid',
      readiness: 'manual',
      logger,
    });
  });

  test('the environment overrides defaults', () => {
    expect(resolveOptions({}, optionsFromEnv({ BATON_LOG: 'error', BATON_CONTROL: '/run/c' }))).toEqual({
      ...DEFAULTS,
      logLevel: 'error',
      control: '/run/c',
    });
  });

  test('does not touch its inputs or DEFAULTS', () => {
    const fromCode = { drainTimeoutMs: 5 };
    const fromEnv = { drainTimeoutMs: 6 };
    resolveOptions(fromCode, fromEnv);
    expect(fromCode).toEqual({ drainTimeoutMs: 5 });
    expect(fromEnv).toEqual({ drainTimeoutMs: 6 });
    expect(DEFAULTS.drainTimeoutMs).toBe(30_000);
  });
});

describe('baton run reads the BATON_* variables with the same validator (resolveSupervisorOptions)', () => {
  const resolve = (
    flags: Parameters<typeof resolveSupervisorOptions>[1],
    env: NodeJS.ProcessEnv,
  ): ReturnType<typeof resolveSupervisorOptions> => resolveSupervisorOptions(['node', 'app.js'], flags, env, '/srv');

  test("nothing set: the library's defaults", () => {
    expect(resolve({}, {})).toEqual({
      command: ['node', 'app.js'],
      workers: 1,
      readyTimeoutMs: DEFAULTS.readyTimeoutMs,
      drainTimeoutMs: DEFAULTS.drainTimeoutMs,
      listen: [],
      cwd: '/srv',
      logLevel: DEFAULTS.logLevel,
    });
    expect(SUPERVISOR_DEFAULTS).toMatchObject({
      readyTimeoutMs: DEFAULTS.readyTimeoutMs,
      drainTimeoutMs: DEFAULTS.drainTimeoutMs,
      logLevel: DEFAULTS.logLevel,
    });
  });

  test('every variable is read', () => {
    const env = {
      BATON_PID_FILE: '/run/app.pid',
      BATON_READY_TIMEOUT_MS: '1500',
      BATON_DRAIN_TIMEOUT_MS: '2500',
      BATON_LOG: 'warn',
      BATON_CONTROL: '/run/app.ctl',
    };
    expect(resolve({}, env)).toMatchObject({
      pidFile: '/run/app.pid',
      readyTimeoutMs: 1500,
      drainTimeoutMs: 2500,
      logLevel: 'warn',
      control: '/run/app.ctl',
    });
  });

  test('a flag given wins over its variable; a flag not given leaves it', () => {
    const env = {
      BATON_PID_FILE: '/env.pid',
      BATON_READY_TIMEOUT_MS: '1500',
      BATON_DRAIN_TIMEOUT_MS: '2500',
      BATON_LOG: 'warn',
      BATON_CONTROL: '/env.ctl',
    };
    const flags = {
      pidFile: '/flag.pid',
      readyTimeoutMs: 100,
      drainTimeoutMs: 200,
      logLevel: 'debug' as const,
      control: '/flag.ctl',
      workers: 3,
      listen: [':8080'],
    };
    expect(resolve(flags, env)).toEqual({ command: ['node', 'app.js'], cwd: '/srv', ...flags });
    expect(resolve({ drainTimeoutMs: 200, readyTimeoutMs: undefined }, env)).toMatchObject({
      drainTimeoutMs: 200,
      readyTimeoutMs: 1500,
      pidFile: '/env.pid',
    });
  });

  test('an empty variable counts as unset, as in the library', () => {
    expect(resolve({}, { BATON_PID_FILE: '', BATON_LOG: '', BATON_DRAIN_TIMEOUT_MS: '' })).toEqual(resolve({}, {}));
  });

  test.each([
    [
      'BATON_DRAIN_TIMEOUT_MS',
      '9999999999',
      `BATON_DRAIN_TIMEOUT_MS="9999999999" is invalid: expected a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`,
    ],
    [
      'BATON_READY_TIMEOUT_MS',
      '2147483648',
      `BATON_READY_TIMEOUT_MS="2147483648" is invalid: expected a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}`,
    ],
    ['BATON_LOG', 'verbose', 'BATON_LOG="verbose" is invalid: expected silent | error | warn | info | debug'],
    ['BATON_PID_FILE', '  ', 'BATON_PID_FILE="  " is invalid: expected a non-empty file path'],
    ['BATON_CONTROL', '/run/\0ctl', 'BATON_CONTROL="/run/\\u0000ctl" is invalid: expected a non-empty file path'],
  ])("%s=%j stops baton run with the library's own message", (variable, raw, message) => {
    const error = thrown(() => resolve({}, { [variable]: raw }));
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe('ERR_BATON_INVALID_OPTION');
    expect(error.message).toBe(message);
    // The same words the first listen() in a worker would have used.
    expect(thrown(() => optionsFromEnv({ [variable]: raw })).message).toBe(message);
  });

  test('a bad variable is refused even when a flag overrides it: the workers inherit it', () => {
    const error = thrown(() =>
      resolve({ drainTimeoutMs: 1000, logLevel: 'info' }, { BATON_DRAIN_TIMEOUT_MS: '9999999999' }),
    );
    expect(error.code).toBe('ERR_BATON_INVALID_OPTION');
    expect(error.message).toContain('BATON_DRAIN_TIMEOUT_MS="9999999999"');
  });

  test('MAX_TIMEOUT_MS is the longest a Node timer waits', () => {
    expect(MAX_TIMEOUT_MS).toBe(2 ** 31 - 1);
  });
});
