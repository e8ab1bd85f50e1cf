// The MCP clients that can reach this agent through its relay (issue 12): the client tokens the gateway asked
// for (POST /manage/client-token), remembered in the runtime state under `client_tokens` so that a front can
// list and revoke them, and the OAuth clients the owner allowed (GET /manage/client-grants).
//
// What is remembered per token: its jti, name, subject, relay, servers and times — and the token itself,
// because the relay's only revocation route (`POST /manage/jwt/revoke {"token"}`, COMPAT.md) takes the signed
// token, not its jti. It sits in the state file (mode 0600) beside the agent token, which can mint the same
// tokens anyway; no control call returns it after `clients:createToken`, and the log redactor knows it.
import { decodeJwt } from 'jose';

import type { ClientGrant, ClientToken } from '../../src-shared/control.js';
import { JsonFile } from '../core/config/json-file.js';
import { editJsonText } from '../core/config/json-text.js';
import { readState } from '../core/config/settings.js';
import { errorMessage, GatewayError } from '../core/errors.js';

/** The runtime state's key for the client tokens created here. */
export const CLIENT_TOKENS_KEY = 'client_tokens';

/** One remembered client token, as kept in the runtime state (snake_case, like the state's other keys). */
interface StoredClientToken {
  id: string;
  name: string;
  subject: string;
  relay: string;
  servers: string[];
  created_at: string;
  expires_at: string;
  /** The signed token: only for `POST /manage/jwt/revoke` (see the file's head). */
  token: string;
}

const isLoopback = (host: string) => /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host);

/**
 * The client tokens remembered in the runtime state at `statePath`, with their secrets (for revocation and
 * the redactor only). Entries that are not well formed are skipped: the file is hand-editable.
 */
export async function loadClientTokens(statePath: string): Promise<StoredClientToken[]> {
  const list = (await readState(statePath))[CLIENT_TOKENS_KEY];
  if (!Array.isArray(list)) return [];
  return list.filter(
    (e): e is StoredClientToken =>
      typeof e === 'object' &&
      e !== null &&
      ['id', 'name', 'subject', 'relay', 'created_at', 'expires_at', 'token'].every(
        (k) => typeof (e as Record<string, unknown>)[k] === 'string',
      ) &&
      Array.isArray((e as Record<string, unknown>)['servers']),
  );
}

async function writeClientTokens(
  statePath: string,
  change: (list: StoredClientToken[]) => StoredClientToken[],
): Promise<void> {
  const next = change(await loadClientTokens(statePath));
  await new JsonFile(statePath, { mode: 0o600 }).update((current) =>
    editJsonText(current ?? '{}\n', [CLIENT_TOKENS_KEY], next.length ? next : undefined),
  );
}

/** A remembered token as the contract lists it: without its secret. */
export function publicClientToken(stored: StoredClientToken, now = Date.now()): ClientToken {
  return {
    id: stored.id,
    name: stored.name,
    subject: stored.subject,
    relay: stored.relay,
    servers: [...stored.servers],
    createdAt: stored.created_at,
    expiresAt: stored.expires_at,
    expired: Date.parse(stored.expires_at) <= now,
  };
}

/**
 * A call to one of the relay's /manage routes, with the agent token as bearer when given. Answers the JSON
 * body of a 200; throws GatewayError (auth-failed) naming the cause and the fix otherwise. Refuses to send a
 * token over plain http to another machine.
 */
export async function relayManage(
  relay: URL,
  path: string,
  options: { bearer?: string; body?: object } = {},
): Promise<Record<string, unknown>> {
  if (relay.protocol !== 'https:' && !(relay.protocol === 'http:' && isLoopback(relay.hostname)))
    throw new GatewayError(
      'auth-failed',
      `Refusing to send tokens over ${relay.protocol}// to ${relay.host}: configure the relay with https://.`,
    );
  let res: Response;
  try {
    res = await fetch(new URL(path, relay), {
      method: options.body ? 'POST' : 'GET',
      headers: {
        ...(options.bearer ? { authorization: `Bearer ${options.bearer}` } : {}),
        ...(options.body ? { 'content-type': 'application/json' } : {}),
      },
      body: options.body ? JSON.stringify(options.body) : undefined,
      redirect: 'error',
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new GatewayError(
      'auth-failed',
      `The relay at ${relay.origin} cannot be reached (${errorMessage(error)}): check that it runs and that REMOTE_SERVER_BASE_URL names it.`,
    );
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.status === 200) return json;
  const reason = typeof json['error'] === 'string' ? json['error'] : `HTTP ${res.status}`;
  if (res.status === 401)
    throw new GatewayError(
      'auth-failed',
      `The relay at ${relay.origin} refused the agent token (${reason}): sign in again (Settings → Sign in).`,
    );
  const error = new GatewayError('auth-failed', `The relay at ${relay.origin} answered: ${reason}.`);
  (error as GatewayError & { status?: number }).status = res.status;
  throw error;
}

/**
 * Asks the relay at `relay` for a client token with `agentToken`, and remembers it in the state file.
 * `servers` undefined: the agent token's own capabilities. Returns the remembered entry (with its secret).
 */
export async function createClientToken(
  statePath: string,
  relay: URL,
  agentToken: string,
  request: { name: string; servers?: string[]; days: number },
): Promise<StoredClientToken> {
  let json: Record<string, unknown>;
  try {
    json = await relayManage(relay, '/manage/client-token', {
      bearer: agentToken,
      body: { expiry_minutes: request.days * 24 * 60, capabilities: request.servers },
    });
  } catch (error) {
    if ((error as { status?: number }).status === 404)
      throw new GatewayError(
        'auth-failed',
        `The relay at ${relay.origin} does not issue client tokens (an older relay): update it, or give clients the agent token.`,
      );
    throw error;
  }
  const token = json['token'];
  if (typeof token !== 'string')
    throw new GatewayError('auth-failed', `The relay at ${relay.origin} answered without a token.`);
  const claims = decodeJwt(token);
  if (typeof claims.jti !== 'string' || typeof claims.sub !== 'string' || typeof claims.exp !== 'number')
    throw new GatewayError(
      'auth-failed',
      `The relay at ${relay.origin} issued a token without jti, sub or exp: it cannot be listed or revoked here.`,
    );
  const stored: StoredClientToken = {
    id: claims.jti,
    name: request.name,
    subject: claims.sub,
    relay: relay.origin,
    servers: Array.isArray(json['capabilities']) ? (json['capabilities'] as string[]) : [],
    created_at: new Date((claims.iat ?? Math.floor(Date.now() / 1000)) * 1000).toISOString(),
    expires_at: new Date(claims.exp * 1000).toISOString(),
    token,
  };
  await writeClientTokens(statePath, (list) => [stored, ...list.filter((e) => e.id !== stored.id)]);
  return stored;
}

/** The remembered token `id` (with its secret), or undefined. */
export async function findClientToken(statePath: string, id: string): Promise<StoredClientToken | undefined> {
  return (await loadClientTokens(statePath)).find((e) => e.id === id);
}

/** Forgets the remembered token `id` (after it was revoked elsewhere, e.g. at the local endpoint). */
export async function forgetClientToken(statePath: string, id: string): Promise<void> {
  await writeClientTokens(statePath, (list) => list.filter((e) => e.id !== id));
}

/**
 * Revokes the remembered token `id` at its relay (`POST /manage/jwt/revoke`) and forgets it. An expired token
 * is only forgotten, and so is one the relay says it did not issue (its key changed: it refuses the token
 * already). Throws GatewayError: `usage` for an unknown id, `auth-failed` when the relay cannot be reached or
 * fails otherwise (the token is then kept, so that revoking can be tried again).
 */
export async function revokeClientToken(statePath: string, id: string): Promise<void> {
  const entry = (await loadClientTokens(statePath)).find((e) => e.id === id);
  if (!entry)
    throw new GatewayError(
      'usage',
      `There is no client token "${id}" on this computer: list them again (clients:list).`,
    );
  if (Date.parse(entry.expires_at) > Date.now()) {
    try {
      await relayManage(new URL(entry.relay), '/manage/jwt/revoke', { body: { token: entry.token } });
    } catch (error) {
      // 400 "not issued by this relay": its key changed, so the token is refused there already; forget it.
      if ((error as { status?: number }).status !== 400) throw error;
    }
  }
  await writeClientTokens(statePath, (list) => list.filter((e) => e.id !== id));
}

/**
 * The OAuth clients allowed on the agent token's subject (`GET /manage/client-grants`), or why they cannot
 * be listed: a relay without MCP client sign-in answers 404, which is a note, not an error.
 */
export async function listClientGrants(
  relay: URL,
  agentToken: string,
): Promise<{ grants: ClientGrant[] } | { note: string }> {
  try {
    const json = await relayManage(relay, '/manage/client-grants', { bearer: agentToken });
    const grants = Array.isArray(json['grants']) ? (json['grants'] as Record<string, unknown>[]) : [];
    return {
      grants: grants.map((g) => ({
        clientId: String(g['client_id']),
        ...(typeof g['client_name'] === 'string' ? { clientName: g['client_name'] } : {}),
        servers: Array.isArray(g['servers']) ? g['servers'].map(String) : [],
        grantedAt: String(g['granted_at']),
      })),
    };
  } catch (error) {
    if ((error as { status?: number }).status === 404)
      return {
        note: `The relay at ${relay.origin} has no MCP client sign-in (it needs USERS_FILE or OIDC_ISSUER): its clients use client tokens.`,
      };
    return { note: errorMessage(error) };
  }
}

/** Ends OAuth client `clientId`'s grant on the subject (`POST /manage/client-grants/revoke`). */
export async function revokeClientGrant(relay: URL, agentToken: string, clientId: string): Promise<number> {
  const json = await relayManage(relay, '/manage/client-grants/revoke', {
    bearer: agentToken,
    body: { client_id: clientId },
  });
  const revoked = Number(json['revoked'] ?? 0);
  if (revoked === 0)
    throw new GatewayError(
      'usage',
      `No MCP client "${clientId}" is allowed on this agent any more: list them again.`,
    );
  return revoked;
}
