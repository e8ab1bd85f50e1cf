// The pieces of the relay's authorization server for MCP clients that are its own (issue 12): its storage,
// its configuration from the environment, and the URLs it announces. The whole flow runs end to end in
// e2e/client-authorization.test.ts.
import { describe, expect, it } from 'vitest';

import { AuthorizationServer } from './authorization-server.js';
import { AuthorizationStore } from './authorization-store.js';
import { OAuthFlow } from './oauth.js';
import { relayOptionsFromEnv } from './relay-config.js';
import { silentLogger } from './relay-log.js';
import { MemorySubjectRegistry } from './subject-registry.js';
import { TokenAuthority } from './token-authority.js';

const secret = 'test-secret-0123456789abcdef';

describe('AuthorizationStore', () => {
  it('forgets expired entries, and every token of a revoked grant', async () => {
    let now = 1_000_000;
    const store = new AuthorizationStore({ now: () => now });
    const tokens = store.adapterFor('AccessToken');
    const refresh = store.adapterFor('RefreshToken');
    await tokens.upsert('a1', { grantId: 'g1' }, 60);
    await refresh.upsert('r1', { grantId: 'g1' }, 3600);
    await tokens.upsert('a2', { grantId: 'g2' }, 60);
    expect(await tokens.find('a1')).toEqual({ grantId: 'g1' });
    await tokens.revokeByGrantId('g1');
    expect(await tokens.find('a1')).toBeUndefined();
    expect(await refresh.find('r1')).toBeUndefined();
    expect(await tokens.find('a2')).toEqual({ grantId: 'g2' });
    now += 61_000;
    expect(await tokens.find('a2')).toBeUndefined();
    store.prune();
    expect(store.size).toBe(0);
  });

  it('holds at most maxEntries, dropping the oldest', async () => {
    const store = new AuthorizationStore({ maxEntries: 3 });
    const adapter = store.adapterFor('Interaction');
    for (const id of ['1', '2', '3', '4']) await adapter.upsert(id, { n: id }, 600);
    expect(store.size).toBe(3);
    expect(await adapter.find('1')).toBeUndefined();
    expect(await adapter.find('4')).toEqual({ n: '4' });
  });

  it('holds at most maxClients registrations, so that open registration cannot evict tokens', async () => {
    const store = new AuthorizationStore({ maxClients: 2 });
    const tokens = store.adapterFor('AccessToken');
    await tokens.upsert('t', { grantId: 'g' }, 600);
    const clients = store.adapterFor('Client');
    for (const id of ['c1', 'c2', 'c3']) await clients.upsert(id, { client_id: id });
    expect(await clients.find('c1')).toBeUndefined();
    expect(await clients.find('c3')).toEqual({ client_id: 'c3' });
    expect(await tokens.find('t')).toEqual({ grantId: 'g' });
  });

  it('finds a session by its uid, and marks consumed codes', async () => {
    const store = new AuthorizationStore();
    const sessions = store.adapterFor('Session');
    await sessions.upsert('s1', { uid: 'u1' }, 600);
    expect(await sessions.findByUid('u1')).toEqual({ uid: 'u1' });
    await sessions.destroy('s1');
    expect(await sessions.findByUid('u1')).toBeUndefined();
    const codes = store.adapterFor('AuthorizationCode');
    await codes.upsert('c1', {}, 60);
    await codes.consume('c1');
    expect((await codes.find('c1'))?.consumed).toEqual(expect.any(Number));
  });
});

describe('relayOptionsFromEnv: MCP client authorization', () => {
  it('is on with sign-in (60-minute access tokens, metadata documents accepted), off without', () => {
    expect(relayOptionsFromEnv({ JWT_SECRET: secret }).clientAuthorization).toBeUndefined();
    expect(
      relayOptionsFromEnv({ JWT_SECRET: secret, USERS_FILE: '/etc/relay/users' }).clientAuthorization,
    ).toEqual({ accessTokenMinutes: 60, clientIdMetadataDocuments: true });
    expect(
      relayOptionsFromEnv({
        JWT_SECRET: secret,
        USERS_FILE: '/etc/relay/users',
        CLIENT_ACCESS_TOKEN_MINUTES: '15',
        CLIENT_ID_METADATA_DOCUMENTS: 'false',
      }).clientAuthorization,
    ).toEqual({ accessTokenMinutes: 15, clientIdMetadataDocuments: false });
    expect(() => relayOptionsFromEnv({ JWT_SECRET: secret, CLIENT_ACCESS_TOKEN_MINUTES: '0' })).toThrow(
      /CLIENT_ACCESS_TOKEN_MINUTES/,
    );
  });
});

describe('AuthorizationServer URLs', () => {
  const subjects = new MemorySubjectRegistry();
  const server = new AuthorizationServer({
    issuer: 'https://relay.example.com/',
    signIn: new OAuthFlow({
      settings: { identity: { provider: 'builtin', usersFile: '/nonexistent' } },
      tokens: new TokenAuthority({ secret }),
      subjects,
      log: silentLogger,
    }),
    subjects,
    log: silentLogger,
  });

  it('names each MCP endpoint as a resource, with its metadata at the path-inserted well-known URL', () => {
    expect(server.issuer).toBe('https://relay.example.com');
    expect(server.resourceFor('alice', 'fs')).toBe('https://relay.example.com/alice/fs/mcp');
    expect(server.resourceMetadataUrl('alice', 'fs')).toBe(
      'https://relay.example.com/.well-known/oauth-protected-resource/alice/fs/mcp',
    );
    expect(server.challenge('alice', 'fs')).toBe(
      'Bearer resource_metadata="https://relay.example.com/.well-known/oauth-protected-resource/alice/fs/mcp", scope="mcp"',
    );
    expect(server.challenge('alice', 'fs', { code: 'invalid_token', description: 'it "expired"' })).toContain(
      `error="invalid_token", error_description="it 'expired'"`,
    );
  });

  it('serves only its own paths', () => {
    for (const path of [
      '/oauth/token',
      '/oauth/interaction/abc',
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
      '/.well-known/oauth-protected-resource/alice/fs/mcp',
    ])
      expect(server.handles(path), path).toBe(true);
    for (const path of ['/alice/fs/mcp', '/manage/oauth/start', '/connect', '/.well-known/other'])
      expect(server.handles(path), path).toBe(false);
  });
});
