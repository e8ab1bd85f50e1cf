// The Redactor is the one place secrets are removed from logs: by shape (JWTs, bearer credentials) and by
// value (registered secrets, secret-looking env values).
import { describe, expect, it } from 'vitest';

import { REDACTED, Redactor } from './redactor.js';

// Three base64url segments, the first starting with eyJ ('{"'): the shape of every JWT.
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZ2VudC00MiJ9.Xk3p2b0w8lXjv6vU8L0r5p1YQ7m9Zs4aG2hN1cT0eQw';

describe('Redactor', () => {
  it('replaces JWT-shaped strings wherever they appear', () => {
    const redactor = new Redactor();
    const out = redactor.redact(`token=${JWT}; again: "${JWT}"`);
    expect(out).toBe(`token=${REDACTED}; again: "${REDACTED}"`);
    expect(out).not.toContain('eyJ');
  });

  it('replaces an unsigned JWT (empty signature) too', () => {
    const unsigned = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';
    expect(new Redactor().redact(`jwt ${unsigned} end`)).toBe(`jwt ${REDACTED} end`);
  });

  it('leaves text that only resembles a JWT alone', () => {
    const redactor = new Redactor();
    expect(redactor.redact('eyJ.is.not a token')).toBe('eyJ.is.not a token');
    expect(redactor.redact('eyJhbGciOi.eyJzdWIiOi has two parts')).toBe(
      'eyJhbGciOi.eyJzdWIiOi has two parts',
    );
  });

  it('replaces the credential of a Bearer header but keeps the scheme', () => {
    const redactor = new Redactor();
    expect(redactor.redact('Authorization: Bearer abcDEF123456~+/=')).toBe(
      `Authorization: Bearer ${REDACTED}`,
    );
    expect(redactor.redact('authorization: bearer   opaque.token-value_1')).toBe(
      `authorization: bearer   ${REDACTED}`,
    );
  });

  it('replaces a bearer JWT once, not twice', () => {
    expect(new Redactor().redact(`Bearer ${JWT}`)).toBe(`Bearer ${REDACTED}`);
  });

  it('does not treat a short word after "Bearer" as a credential', () => {
    expect(new Redactor().redact('Bearer token missing')).toBe('Bearer token missing');
  });

  it('replaces every occurrence of a registered secret value', () => {
    const redactor = new Redactor();
    redactor.addSecret('s3cr3t-value');
    expect(redactor.redact('a s3cr3t-value b s3cr3t-value c')).toBe(`a ${REDACTED} b ${REDACTED} c`);
  });

  it('replaces the longest secret first, so a secret that contains another is replaced whole', () => {
    const redactor = new Redactor();
    // Registered shortest first: the order of registration must not matter.
    redactor.addSecret('pass');
    redactor.addSecret('password-pass-123');
    expect(redactor.redact('x password-pass-123 y pass z')).toBe(`x ${REDACTED} y ${REDACTED} z`);
  });

  it('ignores secret values shorter than 4 characters, which would redact ordinary words', () => {
    const redactor = new Redactor();
    redactor.addSecret('on');
    redactor.addSecret('abc');
    redactor.addSecret('');
    redactor.addSecret(undefined);
    redactor.addSecret(null);
    redactor.addSecret('abcd');
    expect(redactor.redact('on abc abcd')).toBe(`on abc ${REDACTED}`);
  });

  it('treats secret values literally, not as patterns', () => {
    const redactor = new Redactor();
    redactor.addSecret('a.b*c$1(');
    expect(redactor.redact('axbbc a.b*c$1( end')).toBe(`axbbc ${REDACTED} end`);
  });

  it('registers only env values whose names look secret', () => {
    const redactor = new Redactor();
    redactor.addSecretEnv({
      GITHUB_TOKEN: 'ghp-token-value',
      OPENAI_API_KEY: 'sk-key-value',
      client_secret: 'lowercase-secret-value',
      DB_PASSWORD: 'db-password-value',
      HOME: '/home/someone',
      PATH: '/usr/local/bin:/usr/bin',
      LOG_LEVEL: 'verbose',
      EMPTY_TOKEN: undefined,
    });
    const line = [
      'ghp-token-value',
      'sk-key-value',
      'lowercase-secret-value',
      'db-password-value',
      '/home/someone',
      '/usr/local/bin:/usr/bin',
      'verbose',
    ].join(' ');
    expect(redactor.redact(line)).toBe(
      [REDACTED, REDACTED, REDACTED, REDACTED, '/home/someone', '/usr/local/bin:/usr/bin', 'verbose'].join(
        ' ',
      ),
    );
  });
});
