// The relay's state that outlives a request: who holds each subject, refresh-token families, revocations (issue
// 13). Alone, a relay keeps it in memory (MemoryState: as before, forgotten on restart). With REDIS_URL it lives in
// Redis (./redis-state.ts): kept across restarts and shared by every relay on the same Redis, so that a
// revocation on one holds on all and a refresh token issued by one is accepted by another.
// The authorization server's grants, tokens, interactions and registered clients (oidc-provider's adapter) too,
// its token signing key, agent sign-ins in progress (./login-sessions.ts) and consents asked of owners' apps
// (./app-consent.ts). 2025-era MCP sessions: ./redis-sessions.ts. Routing calls between relays: ./relay-cluster.ts.
import { type AppConsentStore, MemoryAppConsentStore } from './app-consent.js';
import { type AuthorizationStorage, AuthorizationStore } from './authorization-store.js';
import { type LoginSessionStore, MemoryLoginSessionStore } from './login-sessions.js';
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
  /** Agent sign-ins in progress (between /manage/oauth/start and /complete). */
  loginSessions(): LoginSessionStore;
  /** Consents asked of owners' apps while consent pages show (./app-consent.ts). */
  appConsents(): AppConsentStore;
  /**
   * A value shared by every relay on the store under `name` (a signing key): the first to ask makes it with
   * `make`, the others (and a restarted relay) get the same. In memory: `make()` at each call.
   */
  sharedValue(name: string, make: () => Promise<string>): Promise<string>;
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

  loginSessions(): LoginSessionStore {
    return new MemoryLoginSessionStore();
  }

  appConsents(): AppConsentStore {
    return new MemoryAppConsentStore();
  }

  sharedValue(_name: string, make: () => Promise<string>): Promise<string> {
    return make();
  }

  async connect(): Promise<void> {}

  health(): StateHealth {
    return { backend: 'memory', connected: true };
  }

  async close(): Promise<void> {}
}
