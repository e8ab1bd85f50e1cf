// What a running gateway says on a terminal: one line per server status change and the relay link's lines,
// printed by `run` and by the menu's /start and /run.
import type { Gateway, GatewayState } from '../core/gateway.js';
import type { ServerStatus } from '../core/servers/managed-server.js';
import { statusLine } from './status-line.js';

/** Prints status and link changes of `gateway` through `out` (one call per line or block); returns detach. */
export function reportGateway(gateway: Gateway, out: (text: string) => void): () => void {
  // A line whenever what it says changes.
  const printed = new Map<string, string>();
  const width = () => Math.max(12, ...gateway.servers.list().map((s) => s.name.length));
  const onStatus = (status: ServerStatus) => {
    const line = statusLine({ ...status, nextRetryAt: undefined }, width());
    // A server that keeps failing the same way alternates error/restarting: say it once, not every retry.
    const failing = status.state === 'error' || status.state === 'restarting';
    const key = failing ? `failing: ${status.lastError}` : line;
    if (printed.get(status.name) === key) return;
    printed.set(status.name, key);
    out(line);
  };
  const onRemoved = (name: string) => {
    printed.delete(name);
    out(`– ${name} removed from mcp.json`);
  };
  let lastLink = '';
  const onState = (state: GatewayState) => {
    const text = linkText(state, gateway.localToken);
    if (text && text !== lastLink) out(text);
    lastLink = text;
  };
  gateway.servers.on('status', onStatus);
  gateway.servers.on('removed', onRemoved);
  gateway.on('state', onState);
  return () => {
    gateway.servers.off('status', onStatus);
    gateway.servers.off('removed', onRemoved);
    gateway.off('state', onState);
  };
}

/** One line about the relay link, for a status overview. */
export function linkSummary(state: GatewayState): string {
  switch (state.state) {
    case 'connected':
      return state.local
        ? `Local endpoint on ${state.relay} (no remote configured)`
        : `Connected to ${state.relay} as "${state.subject}"`;
    case 'connecting':
      return `Connecting to the relay (attempt ${state.attempt})${state.lastError ? `: ${state.lastError}` : ''}`;
    case 'needs-login':
      return `Sign-in needed: ${state.reason}`;
    case 'error':
      return `Relay error: ${state.reason}`;
    case 'starting':
      return 'Starting';
    case 'stopped':
      return 'Stopped';
  }
}

/** What `run` says about the relay link; the same text is not repeated. */
export function linkText(state: GatewayState, localToken: string | undefined): string {
  switch (state.state) {
    case 'connected': {
      const names = Object.keys(state.endpoints);
      const width = Math.max(12, ...names.map((n) => n.length));
      const lines = state.local
        ? [
            `Local endpoint on ${state.relay} (no remote configured; set REMOTE_SERVER_BASE_URL to use a relay):`,
          ]
        : [`Connected to ${state.relay} as "${state.subject}". Endpoints:`];
      for (const name of names) lines.push(`  ${name.padEnd(width)} ${state.endpoints[name]}`);
      if (!names.length) lines.push('  (no servers announced)');
      if (state.local && localToken) {
        const header = `Bearer ${localToken}`;
        lines.push(`Clients send the header  Authorization: ${header}`);
        const gemini = Object.fromEntries(
          names.map((name) => [name, { httpUrl: state.endpoints[name], headers: { Authorization: header } }]),
        );
        lines.push(
          'For Gemini CLI, in ~/.gemini/settings.json:',
          JSON.stringify({ mcpServers: gemini }, null, 2),
        );
      } else if (!state.local) {
        lines.push(
          `Clients send a client token for subject "${state.subject}" (\`mcpassistant-gateway client-token\`).`,
        );
      }
      return lines.join('\n');
    }
    case 'connecting':
      return state.lastError ? `Relay: ${state.lastError}; retrying…` : '';
    case 'needs-login':
      return `Relay: sign-in needed: ${state.reason}`;
    case 'error':
      return `Relay: ${state.reason}`;
    default:
      return '';
  }
}
