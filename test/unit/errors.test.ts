// Every error code is documented and has a status (like fastify's test/internals/errors.test.js).
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  asSidecarError,
  ConfigError,
  ERROR_CODES,
  type ErrorCode,
  STATUS_BY_CODE,
  sidecarError,
} from '../../src/errors';

const README = path.resolve(__dirname, '../../README.md');
const CODES = Object.values(ERROR_CODES) as ErrorCode[];

/** The text of README.md's "Error codes" section, up to the next heading of the same or a higher level. */
function errorCodesSection(): string {
  if (!existsSync(README)) {
    throw new Error(`README.md not found at ${README}: it must document every error code under a heading containing "Error codes".`);
  }
  const lines = readFileSync(README, 'utf8').split('\n');
  const start = lines.findIndex((l) => /^#{1,6}\s.*Error codes/i.test(l));
  if (start === -1) throw new Error(`README.md has no heading containing "Error codes" (${README}).`);
  const level = /^(#+)/.exec(lines[start])?.[1].length ?? 1;
  let end = lines.length;
  let inFence = false;
  for (let i = start + 1; i < lines.length; i++) {
    if (lines[i].startsWith('```')) inFence = !inFence;
    const h = inFence ? null : /^(#{1,6})\s/.exec(lines[i]);
    if (h !== null && h[1].length <= level) {
      end = i;
      break;
    }
  }
  return lines.slice(start + 1, end).join('\n');
}

describe('ERROR_CODES', () => {
  it('are unique ERR_* strings', () => {
    expect(new Set(CODES).size).toBe(CODES.length);
    for (const code of CODES) expect(code).toMatch(/^ERR_[A-Z0-9_]+$/);
  });

  it.each(CODES)('%s is documented in README.md under "Error codes"', (code) => {
    const section = errorCodesSection();
    expect({ code, documented: new RegExp(`\`${code}\``).test(section) }).toEqual({ code, documented: true });
  });

  it('README\'s "Error codes" section names no code that does not exist', () => {
    const named = errorCodesSection().match(/\bERR_[A-Z0-9_]+\b/g) ?? [];
    for (const code of named) expect(CODES).toContain(code);
  });
});

describe('STATUS_BY_CODE', () => {
  it.each(CODES)('%s has an HTTP status', (code) => {
    const status = STATUS_BY_CODE[code];
    expect(Number.isInteger(status)).toBe(true);
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(600);
  });

  it('has no entry for a code that does not exist, and is frozen', () => {
    expect(Object.keys(STATUS_BY_CODE).sort()).toEqual([...CODES].sort());
    expect(Object.isFrozen(STATUS_BY_CODE)).toBe(true);
  });

  it('matches the status table in README.md wherever it names a code', () => {
    if (!existsSync(README)) throw new Error(`README.md not found at ${README}`);
    const rows = readFileSync(README, 'utf8').split('\n').filter((l) => /^\|.*\|\s*\d{3}\s*\|\s*`ERR_[A-Z_]+`\s*\|\s*$/.test(l));
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const [, status, code] = /\|\s*(\d{3})\s*\|\s*`(ERR_[A-Z_]+)`\s*\|\s*$/.exec(row) ?? [];
      expect({ code, status: Number(status) }).toEqual({ code, status: STATUS_BY_CODE[code as ErrorCode] });
    }
  });

  it('keeps the statuses clients rely on', () => {
    expect(STATUS_BY_CODE).toMatchObject({
      ERR_BAD_REQUEST: 400,
      ERR_ROUTE_NOT_FOUND: 404,
      ERR_BODY_TOO_LARGE: 413,
      ERR_UPSTREAM_TIMEOUT: 504,
      ERR_UPSTREAM_CONNECT: 502,
      ERR_UPSTREAM_TLS: 502,
      ERR_UPSTREAM_RESET: 502,
      ERR_UPSTREAM_RESPONSE: 502,
      ERR_CLIENT_GONE: 499,
      ERR_INTERNAL: 500,
    });
  });
});

describe('sidecarError', () => {
  it.each(CODES)('%s: carries the code, its status, the message and the cause', (code) => {
    const cause = new Error('root');
    const err = sidecarError(code, 'what happened', cause);
    expect({ code: err.code, status: err.status, message: err.message, cause: err.cause }).toEqual({ code, status: STATUS_BY_CODE[code], message: 'what happened', cause });
    expect(err.name).toBe('SidecarError');
    expect(err.stack).toBeDefined();
  });

  it('has no cause when none is given', () => {
    expect('cause' in sidecarError(ERROR_CODES.INTERNAL, 'x')).toBe(false);
  });
});

describe('ConfigError', () => {
  it('defaults to ERR_CONFIG_INVALID with status 400', () => {
    const err = new ConfigError('route "a": timeout: must be >= 100');
    expect({ code: err.code, status: err.status, name: err.name }).toEqual({ code: 'ERR_CONFIG_INVALID', status: 400, name: 'ConfigError' });
  });

  // The codes src/ raises through ConfigError (routes-file, file-store, store-spec, etcd-store).
  it.each([ERROR_CODES.CONFIG_INVALID, ERROR_CODES.CONFIG_UNREADABLE, ERROR_CODES.STORE_WRITE_FAILED, ERROR_CODES.CLI_INVALID])('with %s has the status of its code', (code) => {
    const err = new ConfigError('x', code);
    expect({ code: err.code, status: err.status }).toEqual({ code, status: STATUS_BY_CODE[code] });
  });
});

describe('asSidecarError', () => {
  it('passes our errors through unchanged', () => {
    const ours = sidecarError(ERROR_CODES.UPSTREAM_RESET, 'reset');
    expect(asSidecarError(ours)).toBe(ours);
    const config = new ConfigError('bad');
    expect(asSidecarError(config)).toBe(config);
  });

  it.each<[string, unknown]>([
    ['a plain Error', new Error('boom')],
    ['an Error with a foreign code', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })],
    ['a string', 'oops'],
    ['undefined', undefined],
    ['an object that mimics our shape', { name: 'SidecarError', code: 'ERR_BAD_REQUEST', message: 'fake' }],
  ])('turns %s into ERR_INTERNAL (500) with a safe message and the cause', (_label, thrown) => {
    const err = asSidecarError(thrown);
    expect({ code: err.code, status: err.status, message: err.message }).toEqual({ code: 'ERR_INTERNAL', status: 500, message: 'internal error' });
    expect(err.cause).toBe(thrown);
  });
});
