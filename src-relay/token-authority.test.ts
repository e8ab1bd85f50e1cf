import { afterEach, describe, expect, it, vi } from 'vitest';

import { TokenAuthority } from './token-authority.js';

describe('TokenAuthority revocations', () => {
  afterEach(() => vi.useRealTimers());

  it('forgets a revocation once its token has expired, so the set stays bounded; a token without expiry stays revoked', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const tokens = new TokenAuthority({ secret: 'a-secret-of-at-least-32-characters!!' });
    await tokens.revokeId('jti:short', Date.now() + 1_000);
    await tokens.revokeId('jti:forever', Infinity);
    expect(tokens.isRevoked('jti:short')).toBe(true);
    vi.setSystemTime(Date.now() + 61_000);
    await tokens.revokeId('jti:later'); // a revocation after the token's expiry prunes the expired ones
    expect(tokens.isRevoked('jti:short')).toBe(false);
    expect(tokens.isRevoked('jti:forever')).toBe(true);
    expect(tokens.isRevoked('jti:later')).toBe(true);
  });
});
