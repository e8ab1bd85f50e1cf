// The relay's state that outlives a request: who holds each subject, refresh-token families, revocations (issue
// 13). Alone, a relay keeps it in memory (MemoryState: as before, forgotten on restart). With REDIS_URL it lives in
// Redis (./redis-state.ts): kept across restarts and shared by every relay on the same Redis, so that a
// revocation on one holds on all and a refresh token issued by one is accepted by another.
// The authorization server's grants, tokens and registered clients (oidc-provider's adapter) too.
// Not here (yet): login sessions in progress. 2025-era MCP sessions: ./redis-sessions.ts. Routing calls between
// relays: ./relay-cluster.ts.
import { type AuthorizationStorage, AuthorizationStore } from './authorization-store.js';
import { MemoryRefreshTokenStore, type RefreshTokenStore } from './refresh-tokens.js';
import { MemorySubjectRegistry, type SubjectRegistry } from './subject-registry.js';
import type { RevocationLog } from './token-authority.js';

/** What /healthz reports about the state store. */
export interface StateHealth {
  backend: 'memory' | 'redis';
  /** False while the relay cannot reach Redis (it then answers /healthz with 503). */
  connected: boolean;
}

/** The stores of one relay. */
export interface SharedState {
  readonly subjects: SubjectRegistry;
  /** Shared revocations; undefined when revocations live in the TokenAuthority alone (memory). */
  readonly revocations: RevocationLog | undefined;
  /** The refresh-token families of agent sign-ins; `lifetimeMs` is a refresh token's lifetime. */
  refreshTokens(options: Readonly<{ lifetimeMs: number; now: () => number }>): RefreshTokenStore;
  /** The authorization server's storage (oidc-provider's grants, tokens, registered clients). */
  authorizationStore(): AuthorizationStorage;
  /** Connects (Redis); rejects with an Error that names the URL (without its password) and the fix. */
  connect(): Promise<void>;
  health(): StateHealth;
  close(): Promise<void>;
}

/** A relay alone: everything in memory, forgotten on restart. */
export class MemoryState implements SharedState {
  readonly subjects = new MemorySubjectRegistry();
  readonly revocations = undefined;

  refreshTokens(options: Readonly<{ lifetimeMs: number; now: () => number }>): RefreshTokenStore {
    return new MemoryRefreshTokenStore(options);
  }

  authorizationStore(): AuthorizationStorage {
    return new AuthorizationStore();
  }

  async connect(): Promise<void> {}

  health(): StateHealth {
    return { backend: 'memory', connected: true };
  }

  async close(): Promise<void> {}
}
