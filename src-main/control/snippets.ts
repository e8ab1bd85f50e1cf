// Paste-ready client configuration for one endpoint, in each client's own format:
// - Gemini CLI (~/.gemini/settings.json): `mcpServers.<name>.httpUrl` + `headers`;
// - Claude Code: `claude mcp add --transport http <name> <url> --header "…"`;
// - Cursor (~/.cursor/mcp.json): `mcpServers.<name>.url` + `headers`;
// - VS Code (.vscode/mcp.json): `servers.<name>` with `type: "http"`, `url`, `headers`;
// - Claude Desktop: stdio only, so `npx -y mcp-remote <url> --header …` with the value from env.
import type { ClientKind } from '../../src-shared/control.js';
import { clientEntry } from './client-configs.js';

/** POSIX single quotes: the text stays literal in any shell the user pastes it into. */
const shellQuote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/**
 * The snippets for `server` at `url`, sending `Authorization: <bearer>` (omitted when there is no bearer).
 * Returns JSON text for the config-file clients and a shell command for Claude Code.
 */
export function endpointSnippets(
  server: string,
  url: string,
  bearer: string | undefined,
): Record<ClientKind, string> {
  const headers = bearer === undefined ? undefined : { Authorization: bearer };
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  return {
    'gemini-cli': json({ mcpServers: { [server]: { httpUrl: url, ...(headers ? { headers } : {}) } } }),
    'claude-code': [
      'claude mcp add --transport http',
      shellQuote(server),
      shellQuote(url),
      ...(bearer === undefined ? [] : ['--header', shellQuote(`Authorization: ${bearer}`)]),
    ].join(' '),
    cursor: json({ mcpServers: { [server]: { url, ...(headers ? { headers } : {}) } } }),
    vscode: json({ servers: { [server]: { type: 'http', url, ...(headers ? { headers } : {}) } } }),
    'claude-desktop': json({ mcpServers: { [server]: clientEntry('claude-desktop', url, bearer) } }),
  };
}
