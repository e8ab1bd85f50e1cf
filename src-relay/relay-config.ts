// The relay's configuration from its environment (and a .env in the working directory), with the existing
// remote's names (COMPAT.md) so it is a drop-in replacement. One difference on purpose:
// ALLOW_UNAUTH_MCP_TRANSPORT defaults to false here.
import { z } from 'zod';

import { MAX_FRAME_BYTES, MAX_MESSAGE_BYTES } from '../src-shared/wire.js';
import { isLoopbackOrigin } from './http-util.js';
import type { IdentityConfig } from './identity/provider.js';
import type { RelayOptions } from './relay-server.js';

const bool = z.preprocess(
  (v) => (typeof v === 'string' ? /^(1|true|yes|on)$/i.test(v.trim()) : v),
  z.boolean(),
);
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const list = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(z.string()),
);

export const RelayEnv = z.object({
  JWT_SECRET: z
    .string({ error: 'JWT_SECRET is required: the secret that signs and verifies agent tokens' })
    .min(16, 'JWT_SECRET must be at least 16 characters'),
  JWT_ALGORITHM: z.enum(['HS256', 'HS384', 'HS512']).default('HS256'),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  REQUEST_TIMEOUT_SECONDS: z.coerce.number().min(1).default(20),
  ALLOW_UNAUTH_MCP_TRANSPORT: bool.default(false),
  JWT_FALLBACK_ENABLED: bool.default(false),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(0, 65535).default(8000),
  PUBLIC_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  ALLOWED_ORIGINS: list.default([]),
  ALLOWED_HOSTS: list.default([]),
  // A request must fit in one invoke frame to the agent: at most MAX_MESSAGE_BYTES.
  MAX_BODY_BYTES: int(1024, MAX_MESSAGE_BYTES).default(4 * 1024 * 1024),
  MAX_FRAME_BYTES: int(1024).default(MAX_FRAME_BYTES),
  MAX_IN_FLIGHT_PER_AGENT: int(1).default(256),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  // Sign-in (/manage/oauth/*). Without a provider those routes answer 404 and agents use /manage/jwt/issue.
  OAUTH_PROVIDER: z.enum(['builtin', 'oidc']).optional(),
  USERS_FILE: z.string().min(1).optional(),
  OIDC_ISSUER: z
    .url({ protocol: /^https?$/ })
    .refine(
      (v) => v.startsWith('https:') || isLoopbackOrigin(new URL(v)),
      'OIDC_ISSUER must be https:// (http:// only for an issuer on this machine)',
    )
    .optional(),
  OIDC_CLIENT_ID: z.string().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  OIDC_ALLOWED_DOMAINS: list.default([]),
  REFRESH_TOKEN_DAYS: int(1, 3650).default(30),
  // MCP clients (the relay as their authorization server, issue 12): on whenever sign-in is configured.
  CLIENT_ACCESS_TOKEN_MINUTES: int(1, 1440).default(60),
  CLIENT_ID_METADATA_DOCUMENTS: bool.default(true),
  // Shared state (issue 13): subjects, refresh tokens and revocations in Redis, kept across restarts and shared
  // by every relay on it. Without it the relay keeps them in memory.
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/\S+$/, 'REDIS_URL must be redis://[:password@]host:port[/db] (or rediss:// for TLS)')
    .optional(),
  REDIS_KEY_PREFIX: z.string().min(1).max(64).default('mcpassistant:'),
});
export type RelayEnv = z.infer<typeof RelayEnv>;

/** Relay options from an environment; throws an Error whose message lists every problem, one per line. */
export function relayOptionsFromEnv(
  env: Record<string, string | undefined>,
): Omit<RelayOptions, 'log'> & { logLevel: RelayEnv['LOG_LEVEL'] } {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = RelayEnv.safeParse(cleaned);
  if (!parsed.success) {
    throw new Error(
      parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`).join('\n'),
    );
  }
  const e = parsed.data;
  const identity = identityFromEnv(e);
  return {
    host: e.HOST,
    port: e.PORT,
    jwtSecret: e.JWT_SECRET,
    jwtAlgorithm: e.JWT_ALGORITHM,
    jwtIssuer: e.JWT_ISSUER,
    jwtAudience: e.JWT_AUDIENCE,
    requestTimeoutMs: e.REQUEST_TIMEOUT_SECONDS * 1000,
    allowUnauthMcp: e.ALLOW_UNAUTH_MCP_TRANSPORT,
    jwtFallbackEnabled: e.JWT_FALLBACK_ENABLED,
    publicBaseUrl: e.PUBLIC_BASE_URL,
    allowedOrigins: e.ALLOWED_ORIGINS,
    allowedHosts: e.ALLOWED_HOSTS,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxFrameBytes: e.MAX_FRAME_BYTES,
    maxInFlightPerAgent: e.MAX_IN_FLIGHT_PER_AGENT,
    oauth: identity && { identity, refreshTokenDays: e.REFRESH_TOKEN_DAYS },
    clientAuthorization: identity && {
      accessTokenMinutes: e.CLIENT_ACCESS_TOKEN_MINUTES,
      clientIdMetadataDocuments: e.CLIENT_ID_METADATA_DOCUMENTS,
    },
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    logLevel: e.LOG_LEVEL,
  };
}

/**
 * The identity provider: OAUTH_PROVIDER, else inferred (USERS_FILE → builtin, OIDC_ISSUER → oidc).
 * Throws when the choice is ambiguous or incomplete.
 */
function identityFromEnv(e: RelayEnv): IdentityConfig | undefined {
  const provider =
    e.OAUTH_PROVIDER ??
    (e.USERS_FILE && e.OIDC_ISSUER ? 'both' : e.USERS_FILE ? 'builtin' : e.OIDC_ISSUER ? 'oidc' : undefined);
  if (provider === 'both')
    throw new Error(
      'OAUTH_PROVIDER: both USERS_FILE and OIDC_ISSUER are set; choose with OAUTH_PROVIDER=builtin or oidc',
    );
  if (provider === 'builtin') {
    if (!e.USERS_FILE)
      throw new Error(
        'USERS_FILE: required with OAUTH_PROVIDER=builtin (a file of e-mail:password-hash lines)',
      );
    return { provider, usersFile: e.USERS_FILE };
  }
  if (provider === 'oidc') {
    const missing = [
      !e.OIDC_ISSUER &&
        'OIDC_ISSUER: required with OAUTH_PROVIDER=oidc (the issuer URL of the identity provider)',
      !e.OIDC_CLIENT_ID &&
        'OIDC_CLIENT_ID: required with OAUTH_PROVIDER=oidc (the client registered for this relay)',
    ].filter(Boolean);
    if (missing.length) throw new Error(missing.join('\n'));
    return {
      provider,
      issuer: e.OIDC_ISSUER!,
      clientId: e.OIDC_CLIENT_ID!,
      clientSecret: e.OIDC_CLIENT_SECRET,
      allowedDomains: e.OIDC_ALLOWED_DOMAINS.map((d) => d.toLowerCase().replace(/^@/, '')),
    };
  }
  return undefined;
}
