// `client-tokens` and `client-tokens revoke <id>`: older names, kept for scripts (`clients list|revoke` cover
// them). The client tokens this gateway asked its relay for (with `client-token`, `clients add` or from the
// window), as remembered in the runtime state, and revoking one at the relay so that it stops working at once.
import { loadClientTokens, publicClientToken, revokeClientToken } from '../control/client-access.js';
import { GatewayError } from '../core/errors.js';
import { resolveAuthSettings } from './auth-commands.js';
import type { CommonOptions } from './cli-support.js';

type PathOptions = Pick<CommonOptions, 'config' | 'state'>;
const out = (line: string) => process.stdout.write(`${line}\n`);

/** `client-tokens [--json]`: name, id, servers and expiry of each remembered client token; never the token. */
export async function clientTokensCommand(options: PathOptions & { json?: boolean }): Promise<void> {
  const settings = await resolveAuthSettings(options);
  const tokens = (await loadClientTokens(settings.paths.state.path)).map((e) => publicClientToken(e));
  if (options.json) {
    out(JSON.stringify(tokens, null, 2));
    return;
  }
  if (!tokens.length) {
    out('No client tokens were created here: `mcpassistant-gateway clients add NAME` creates one.');
    return;
  }
  for (const t of tokens) {
    out(`${t.name} (${t.id})`);
    out(`  subject: ${t.subject} at ${t.relay}; servers: ${t.servers.join(', ')}`);
    out(`  ${t.expired ? 'expired' : 'valid until'} ${t.expiresAt}`);
  }
  out('Revoke one with `mcpassistant-gateway clients revoke <id>`.');
}

/** `client-tokens revoke <id>`: revokes the token at its relay and forgets it. */
export async function clientTokensRevokeCommand(id: string | undefined, options: PathOptions): Promise<void> {
  if (!id)
    throw new GatewayError(
      'usage',
      'name the client token to revoke: its id from `mcpassistant-gateway clients list`',
    );
  const settings = await resolveAuthSettings(options);
  const statePath = settings.paths.state.path;
  const entry = (await loadClientTokens(statePath)).find((e) => e.id === id || e.name === id);
  if (!entry)
    throw new GatewayError(
      'usage',
      `no client token "${id}" was created here (see \`mcpassistant-gateway clients list\`)`,
    );
  await revokeClientToken(statePath, entry.id);
  out(`Revoked the client token "${entry.name}": clients that send it are refused from now on.`);
}
