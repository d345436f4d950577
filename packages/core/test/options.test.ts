import { BatonError } from '../src/errors';
import * as publicApi from '../src/index';
import { LOG_LEVELS } from '../src/logger';
import { DEFAULTS, ENV_VARIABLES, optionsFromEnv, resolveOptions, validateOptions, type BatonOptions } from '../src/options';

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
    const rest = Object.fromEntries(Object.entries(DEFAULTS).filter(([name]) => name !== 'pidFile' && name !== 'control'));
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
      BATON_LOG: 'logLevel',
      BATON_CONTROL: 'control',
    });
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
    ).toEqual({ pidFile: '/run/app.pid', readyTimeoutMs: 1500, drainTimeoutMs: 2500, logLevel: 'debug', control: '/run/app.ctl' });
  });

  test('numbers and levels tolerate surrounding blanks', () => {
    expect(optionsFromEnv({ BATON_READY_TIMEOUT_MS: ' 250 ', BATON_LOG: 'warn\n' })).toEqual({ readyTimeoutMs: 250, logLevel: 'warn' });
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
    expect(resolveOptions({ drainTimeoutMs: 1234 }, optionsFromEnv({ BATON_DRAIN_TIMEOUT_MS: '' })).drainTimeoutMs).toBe(1234);
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
    const error = thrown(() => optionsFromEnv({ BATON_LOG: 'info', BATON_DRAIN_TIMEOUT_MS: 'x', BATON_PID_FILE: '/run/a.pid' }));
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
    expect(thrown(() => validateOptions({ readyTimeout: undefined } as BatonOptions)).message).toContain('readyTimeout=');
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

  test.each(badOptions)('%s=%p is rejected with ERR_BATON_INVALID_OPTION naming option and value', (name, value, text) => {
    const error = thrown(() => validateOptions({ [name]: value } as BatonOptions));
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe('ERR_BATON_INVALID_OPTION');
    expect(error.message).toContain(`${name}=${text}`);
  });

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
    const fromCode = validateOptions({ drainTimeoutMs: 1000, readyTimeoutMs: 2000, pidFile: '/code.pid', readiness: 'manual', logger });
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
