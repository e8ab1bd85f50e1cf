// `mcpassistant-relay`: the self-hostable relay. Configured by environment variables (see README,
// "Self-hosting the relay"), optionally from a .env file in the working directory.
// `mcpassistant-relay hash-password` prints a password hash for USERS_FILE.
import { readFileSync } from 'node:fs';

import { parse as parseDotenv } from 'dotenv';

import { hashPassword } from './identity/password.js';
import { readPassword } from './read-password.js';
import { redactRedisUrl, RedisUnreachableError } from './redis-state.js';
import { relayOptionsFromEnv } from './relay-config.js';
import { consoleLogger } from './relay-log.js';
import { RelayServer } from './relay-server.js';

const HELP = `Usage: mcpassistant-relay
       mcpassistant-relay hash-password   (reads a password on stdin, prints its USERS_FILE hash)

Runs the MCP Assistant relay: agents connect to wss://<host>/connect, MCP clients use
https://<host>/<subject>/<server>/mcp with a client token (POST /manage/client-token, or
\`mcpassistant-gateway client-token\`). Configured by environment variables (or .env):

  JWT_SECRET                  required; signs and verifies agent and client tokens (HS256)
  HOST, PORT                  where to listen (default 0.0.0.0:8000)
  PUBLIC_BASE_URL             the https:// URL clients use, for the endpoint URLs reported to agents
  REQUEST_TIMEOUT_SECONDS     how long a call may take (default 20)
  ALLOW_UNAUTH_MCP_TRANSPORT  let MCP clients in without a bearer token (default false)
  JWT_FALLBACK_ENABLED        serve POST /manage/jwt/issue (default false): anyone who can reach the
                              relay can then mint a token for a new subject; prefer USERS_FILE sign-in
  JWT_ISSUER, JWT_AUDIENCE    required iss / aud of tokens, when set
  ALLOWED_ORIGINS             comma-separated browser origins allowed on the MCP routes
  ALLOWED_HOSTS               comma-separated Host names (or name:port) to accept besides PUBLIC_BASE_URL's
                              and the listening address (DNS-rebinding protection)
  MAX_BODY_BYTES, MAX_FRAME_BYTES, MAX_IN_FLIGHT_PER_AGENT, LOG_LEVEL

Sign-in (POST /manage/oauth/*; without a provider agents use /manage/jwt/issue):
  OAUTH_PROVIDER              builtin or oidc (default: builtin with USERS_FILE, oidc with OIDC_ISSUER)
  USERS_FILE                  builtin: a file of "email:<hash>" lines, the hash from
                              \`mcpassistant-relay hash-password\`; read at every sign-in
  OIDC_ISSUER                 oidc: the provider's issuer URL (https://; discovery)
  OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
                              oidc: the client registered for this relay, with the redirect URI
                              <PUBLIC_BASE_URL>/manage/oauth/callback
  OIDC_ALLOWED_DOMAINS        oidc: comma-separated e-mail domains allowed to sign in (default: any)
  REFRESH_TOKEN_DAYS          lifetime of a refresh token; each refresh rotates it (default 30)

Shared state (several relays behind a load balancer, or one that keeps sign-ins across restarts):
  REDIS_URL                   redis://[:password@]host:port[/db]: subjects, refresh tokens and revocations
                              live there, shared by every relay on it, and each relay routes calls to the
                              agents connected to the others (default: in memory, this process only)
  REDIS_KEY_PREFIX            prefix of the relay's keys (default mcpassistant:)

MCP clients by OAuth (on with sign-in: the relay is their authorization server; PUBLIC_BASE_URL is its issuer):
  CLIENT_ACCESS_TOKEN_MINUTES lifetime of their access tokens (default 60)
  CLIENT_ID_METADATA_DOCUMENTS  accept https client_id URLs (Client ID Metadata Documents) (default true)
`;

function loadEnv(): Record<string, string | undefined> {
  try {
    return { ...parseDotenv(readFileSync('.env', 'utf8')), ...process.env };
  } catch {
    return process.env;
  }
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}

if (process.argv[2] === 'hash-password') {
  const password = await readPassword(process.stdin, process.stderr);
  if (!password) {
    process.stderr.write('mcpassistant-relay hash-password: no password given on stdin\n');
    process.exit(2);
  }
  process.stdout.write(`${await hashPassword(password)}\n`);
  process.exit(0);
}

let options;
try {
  options = relayOptionsFromEnv(loadEnv());
} catch (error) {
  process.stderr.write(`mcpassistant-relay: invalid configuration\n${(error as Error).message}\n`);
  process.exit(3);
}
const log = consoleLogger(options.logLevel);
const relay = new RelayServer({ ...options, log });
let url: URL;
try {
  url = await relay.listen();
} catch (error) {
  const code = (error as NodeJS.ErrnoException).code;
  if (error instanceof RedisUnreachableError) {
    process.stderr.write(`mcpassistant-relay: ${error.message}\n`);
    process.exit(1);
  }
  if (code === undefined) {
    // The sign-in provider's startup check (USERS_FILE unreadable or malformed).
    process.stderr.write(`mcpassistant-relay: invalid configuration\n${(error as Error).message}\n`);
    process.exit(3);
  }
  // One line that names the fix, not an unhandled rejection's stack (EADDRINUSE, EACCES, EADDRNOTAVAIL).
  process.stderr.write(
    `mcpassistant-relay: cannot listen on ${options.host}:${options.port} (${code}); set HOST and PORT\n`,
  );
  process.exit(1);
}
log.info(`mcpassistant-relay listening on ${url.href} (agents: ${url.href.replace(/^http/, 'ws')}connect)`);
if (options.redisUrl)
  log.info(`shared state: Redis at ${redactRedisUrl(options.redisUrl)} (keys ${options.redisKeyPrefix}*)`);
if (options.oauth) {
  log.info(`sign-in: ${options.oauth.identity.provider} provider at /manage/oauth/start`);
  if (relay.authorization)
    log.info(
      `MCP clients by OAuth: authorization server ${relay.authorization.issuer} (consent by the owner)`,
    );
}
if (options.allowUnauthMcp)
  log.warn('ALLOW_UNAUTH_MCP_TRANSPORT=true: anyone who can reach this relay can call every agent');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    stopping = true;
    log.info(`${signal}: stopping`);
    void relay.close().then(() => process.exit(0));
  });
}
