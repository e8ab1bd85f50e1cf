// What a running gateway says on a terminal: one line per server status change and the relay link's lines,
// printed by `run` and by the menu's /start and /run.
import { type ConfigEvent, type Gateway, type GatewayState, SERVERS_CHANGED } from '../core/gateway.js';
import type { ServerStatus } from '../core/servers/managed-server.js';
import { statusLine } from './status-line.js';

/** Reconnect attempts after which a lasting outage is summarised again: 5, 10, 20, 40 … */
const SUMMARY_FIRST_ATTEMPT = 5;

/**
 * Prints status and link changes of `gateway` through `out` (one call per line or block); returns detach.
 * Says each thing once (issue 8.7 and 8.12): a lost link once, then a summary at 5, 10, 20 … attempts and a
 * line when it is back; the endpoint block (with the local token) once, then only what changed; nothing
 * for the re-registration the gateway does itself when the set of servers changes.
 */
export function reportGateway(gateway: Gateway, out: (text: string) => void): () => void {
  // A line whenever what it says changes.
  const printed = new Map<string, string>();
  const width = () => Math.max(12, ...gateway.servers.list().map((s) => s.name.length));
  const onStatus = (status: ServerStatus) => {
    const line = statusLine({ ...status, nextRetryAt: undefined }, width());
    // A server that keeps failing the same way alternates error/restarting: say it once, not every retry.
    // The key ignores the padding, which changes when a server with a longer name comes (issue 8.12: a
    // disabled server's "stopped" line came twice).
    const failing = status.state === 'error' || status.state === 'restarting';
    const key = failing
      ? `failing: ${status.lastError}`
      : statusLine({ ...status, nextRetryAt: undefined }, 0);
    if (printed.get(status.name) === key) return;
    printed.set(status.name, key);
    out(line);
  };
  const onRemoved = (name: string) => {
    printed.delete(name);
    out(`– ${name} removed from mcp.json`);
  };
  const onConfig = (event: ConfigEvent) => {
    if (event.kind === 'created') {
      out(
        `Created ${event.path} with a "filesystem" server for ${event.workingDirectory}; edit it to add yours.`,
      );
    } else if (event.kind === 'applied') {
      out(event.recovered ? `${event.path} is valid again: applied.` : `${event.path} changed: applied.`);
    } else if (event.kind === 'warning') out(`Warning: ${event.message}`);
    // 'invalid' is an error log line, which both fronts show.
  };

  let lastLink = '';
  /** The endpoints the last printed block or change listed, and for which relay and subject. */
  let shown: { key: string; endpoints: Record<string, string> } | undefined;
  let outage: { since: number; attempts: number; nextSummary: number } | undefined;
  const onState = (state: GatewayState) => {
    if (state.state === 'connecting') {
      if (!state.lastError) return;
      // The gateway's own re-registration for a changed set of servers: the endpoint change says it.
      if (!outage && state.lastError === `closed: ${SERVERS_CHANGED}`) return;
      if (!outage) {
        outage = { since: Date.now(), attempts: 1, nextSummary: SUMMARY_FIRST_ATTEMPT };
        lastLink = linkText(state, undefined);
        return out(lastLink);
      }
      outage.attempts = state.attempt;
      if (outage.attempts < outage.nextSummary) return;
      outage.nextSummary *= 2;
      const next =
        state.nextRetryAt === undefined
          ? ''
          : `; next try in ${Math.max(0, (state.nextRetryAt - Date.now()) / 1000).toFixed(1)} s`;
      return out(
        `Relay: still not connected after ${outage.attempts} attempts in ${elapsed(outage.since)} (last: ${state.lastError})${next}.`,
      );
    }
    if (state.state === 'connected') {
      if (outage)
        out(`Relay: connected again after ${outage.attempts} attempt(s) in ${elapsed(outage.since)}.`);
      outage = undefined;
      lastLink = '';
      const key = `${state.relay}\n${state.subject}\n${state.local}`;
      if (shown?.key !== key) {
        out(linkText(state, gateway.localToken));
      } else {
        for (const line of endpointChanges(shown.endpoints, state.endpoints)) out(line);
      }
      shown = { key, endpoints: state.endpoints };
      return;
    }
    outage = undefined;
    const text = linkText(state, gateway.localToken);
    if (text && text !== lastLink) out(text);
    lastLink = text;
  };
  gateway.servers.on('status', onStatus);
  gateway.servers.on('removed', onRemoved);
  gateway.on('state', onState);
  gateway.on('config', onConfig);
  return () => {
    gateway.servers.off('status', onStatus);
    gateway.servers.off('removed', onRemoved);
    gateway.off('state', onState);
    gateway.off('config', onConfig);
  };
}

/** `+ name url` and `– name` lines for endpoints added and removed (an unchanged set: none). */
function endpointChanges(before: Record<string, string>, after: Record<string, string>): string[] {
  const lines: string[] = [];
  for (const [name, url] of Object.entries(after)) {
    if (before[name] !== url) lines.push(`Endpoint added: ${name} ${url}`);
  }
  for (const name of Object.keys(before)) if (!(name in after)) lines.push(`Endpoint removed: ${name}`);
  return lines;
}

function elapsed(since: number): string {
  const seconds = Math.round((Date.now() - since) / 1000);
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
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
