// `clients` and `clients revoke`: the MCP clients (Claude or ChatGPT connectors, Claude Code…) that the owner
// allowed on this gateway's subject through the relay's OAuth consent page, and ending their access (issue 12).
// Both speak to the relay's GET /manage/client-grants and POST /manage/client-grants/revoke with the agent
// token; a relay without sign-in has no such clients (404).
import { printable } from '../../src-shared/wire.js';
import { GatewayError } from '../core/errors.js';
import { relayOf, resolveAuthSettings } from './auth-commands.js';
import type { CommonOptions } from './cli-support.js';

type PathOptions = Pick<CommonOptions, 'config' | 'state'>;
const out = (line: string) => process.stdout.write(`${line}\n`);

/** One grant as the relay lists it (GET /manage/client-grants). */
interface ClientGrant {
  client_id: string;
  client_name?: string;
  servers: string[];
  granted_at: string;
}

/** Calls a /manage/client-grants route with the agent token; returns its JSON body, or throws what to do. */
async function callRelay(
  options: PathOptions,
  path: '/manage/client-grants' | '/manage/client-grants/revoke',
  body?: object,
): Promise<{ json: Record<string, unknown>; subject: string | undefined; relay: URL }> {
  const settings = await resolveAuthSettings(options);
  const token = settings.values.agentJwt;
  if (!token)
    throw new GatewayError('usage', 'not signed in: run `mcpassistant-gateway login`, or set AGENT_JWT');
  const relay = relayOf(settings);
  if (relay.protocol !== 'https:' && !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(relay.hostname))
    throw new GatewayError(
      'auth-failed',
      `refusing to send the agent token over ${relay.protocol}// to ${relay.host}: use https://`,
    );
  let res: Response;
  try {
    res = await fetch(new URL(path, relay), {
      method: body ? 'POST' : 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      redirect: 'error',
    });
  } catch (error) {
    throw new GatewayError(
      'auth-failed',
      `the relay at ${relay.origin} cannot be reached: ${(error as Error).message}`,
    );
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  const error = typeof json['error'] === 'string' ? json['error'] : `HTTP ${res.status}`;
  if (res.status === 404)
    throw new GatewayError(
      'auth-failed',
      `the relay at ${relay.origin} has no MCP client sign-in (it needs USERS_FILE or OIDC_ISSUER, and a version ` +
        'with /manage/client-grants): its clients use bearer tokens (`mcpassistant-gateway client-token`)',
    );
  if (res.status === 401)
    throw new GatewayError(
      'auth-failed',
      `the relay refused the agent token (${error}): run \`mcpassistant-gateway login\``,
    );
  if (res.status !== 200) throw new GatewayError('auth-failed', `the relay answered ${error}`);
  return { json, subject: settings.values.subject, relay };
}

/** `clients [--json]`: the MCP clients allowed on this gateway's subject. */
export async function clientsCommand(options: PathOptions & { json?: boolean }): Promise<void> {
  const { json, subject, relay } = await callRelay(options, '/manage/client-grants');
  const grants = Array.isArray(json['grants']) ? (json['grants'] as ClientGrant[]) : [];
  if (options.json) {
    out(JSON.stringify(grants, null, 2));
    return;
  }
  if (!grants.length) {
    out(`No MCP client is allowed on "${subject ?? 'this agent'}" at ${relay.origin}.`);
    return;
  }
  for (const grant of grants) {
    // A client names itself: no escape sequence of its name reaches the terminal.
    const name = printable(grant.client_name ? `${grant.client_name} (${grant.client_id})` : grant.client_id);
    out(`${name}\n  servers: ${grant.servers.join(', ')}\n  allowed: ${grant.granted_at}`);
  }
  out(`Revoke one with \`mcpassistant-gateway clients revoke <client_id>\`, or all with --all.`);
}

/** `clients revoke <client_id> | --all`: ends those clients' grants; their tokens stop working at once. */
export async function clientsRevokeCommand(
  clientId: string | undefined,
  options: PathOptions & { all?: boolean },
): Promise<void> {
  if (!clientId && !options.all)
    throw new GatewayError(
      'usage',
      'name the client to revoke (its client_id from `mcpassistant-gateway clients`), or pass --all',
    );
  if (clientId && options.all) throw new GatewayError('usage', 'give a client_id or --all, not both');
  const { json } = await callRelay(
    options,
    '/manage/client-grants/revoke',
    clientId ? { client_id: clientId } : {},
  );
  const revoked = Number(json['revoked'] ?? 0);
  if (clientId && revoked === 0)
    throw new GatewayError(
      'usage',
      `no MCP client "${clientId}" is allowed on this agent (see \`mcpassistant-gateway clients\`)`,
    );
  out(
    `Revoked ${revoked} grant${revoked === 1 ? '' : 's'}: ${clientId ? 'that client' : 'those clients'} must ask you again.`,
  );
}
