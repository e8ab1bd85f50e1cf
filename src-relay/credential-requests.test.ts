// The index of open MCP requests by credential (issue 12), on real node:http responses (not connected).
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

import { describe, expect, it } from 'vitest';

import { CredentialRequests, grantCredential } from './credential-requests.js';

const response = () => new ServerResponse(new IncomingMessage(new Socket()));

describe('CredentialRequests', () => {
  it('ends only the revoked credential’s requests, calling their onRevoke with the reason', () => {
    const index = new CredentialRequests();
    const [a1, a2, b] = [response(), response(), response()];
    const reasons: string[] = [];
    index.track({ id: 'jti:a' }, a1).onRevoke = (reason) => reasons.push(reason);
    index.track({ id: 'jti:a' }, a2);
    const other = index.track({ id: grantCredential('g1') }, b);
    expect(index.revoke('jti:a', 'revoked')).toBe(2);
    expect([a1.destroyed, a2.destroyed, b.destroyed]).toEqual([true, true, false]);
    expect(reasons).toEqual(['revoked']);
    expect(other.ended).toBeUndefined();
    expect(index.revoke('jti:a', 'again')).toBe(0);
    expect(index.size).toBe(1);
  });

  it('forgets a request when its response closes, so that a busy credential holds nothing after', () => {
    const index = new CredentialRequests();
    for (let i = 0; i < 1000; i++) {
      const res = response();
      index.track({ id: 'jti:busy', expiresAt: Date.now() + 60_000 }, res);
      res.emit('close');
    }
    expect(index.size).toBe(0);
    expect(index.revoke('jti:busy', 'revoked')).toBe(0);
  });

  it('ends the requests of expired credentials only', () => {
    const index = new CredentialRequests();
    const [expired, live, forever] = [response(), response(), response()];
    const now = Date.now();
    index.track({ id: 'jti:old', expiresAt: now - 1 }, expired);
    index.track({ id: 'jti:new', expiresAt: now + 60_000 }, live);
    index.track({ id: 'sha256:legacy' }, forever);
    expect(index.expire(now)).toBe(1);
    expect([expired.destroyed, live.destroyed, forever.destroyed]).toEqual([true, false, false]);
    expect(index.expire(now + 60_000)).toBe(1);
    expect(live.destroyed).toBe(true);
    expect(index.size).toBe(1);
  });
});
