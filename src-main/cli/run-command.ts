// `run`: start the servers and keep them up until SIGINT/SIGTERM, with one status line per change.
import { logFilePath } from '../core/config/paths.js';
import { errorMessage } from '../core/errors.js';
import type { GatewayState } from '../core/gateway.js';
import { cliLogs, type CommonOptions, createGateway, killOnExit } from './cli-support.js';
import { EXIT } from './exit-codes.js';
import { statusLine } from './status-line.js';

export async function runCommand(options: CommonOptions & Record<string, unknown>): Promise<void> {
  const logs = cliLogs(options.logLevel);
  const gateway = await createGateway(options, logs);
  killOnExit(gateway);
  const out = (line: string) => process.stdout.write(`${line}\n`);

  // A line whenever what it says changes.
  const printed = new Map<string, string>();
  const width = () => Math.max(12, ...gateway.servers.list().map((s) => s.name.length));
  gateway.servers.on('status', (status) => {
    const line = statusLine({ ...status, nextRetryAt: undefined }, width());
    // A server that keeps failing the same way alternates error/restarting: say it once, not every retry.
    const failing = status.state === 'error' || status.state === 'restarting';
    const key = failing ? `failing: ${status.lastError}` : line;
    if (printed.get(status.name) === key) return;
    printed.set(status.name, key);
    out(line);
  });
  gateway.servers.on('removed', (name) => {
    printed.delete(name);
    out(`– ${name} removed from mcp.json`);
  });

  let lastLink = '';
  gateway.on('state', (state) => {
    const text = linkText(state, gateway.localToken);
    if (text && text !== lastLink) out(text);
    lastLink = text;
  });

  let stopping: Promise<void> | undefined;
  const stop = (reason: string, code: number) => {
    if (stopping) {
      out('Stopping now.');
      void gateway.servers.kill().finally(() => process.exit(130));
      return;
    }
    out(`${reason}: stopping the servers… (press Ctrl+C again to force)`);
    stopping = gateway.close().then(() => {
      out('Stopped.');
      process.exitCode = code;
      // Normally nothing is left and the process ends by itself; this only guards against a stray handle.
      setTimeout(() => process.exit(code), 3000).unref();
    });
  };
  process.on('SIGINT', () => stop('SIGINT', EXIT.ok));
  process.on('SIGTERM', () => stop('SIGTERM', EXIT.ok));
  process.on('SIGHUP', () => stop('SIGHUP', EXIT.ok));
  process.on('uncaughtException', (error) => {
    logs.logger('cli').error('unexpected error:', error);
    stop(`Unexpected error (${errorMessage(error)})`, EXIT.failure);
  });

  out(`mcpassistant-gateway: config ${gateway.configFile.path}`);
  out(`Log file: ${logFilePath()}`);
  const { createdConfig } = await gateway.start();
  if (createdConfig)
    out(
      `Created ${gateway.configFile.path} with a "filesystem" server for ${process.cwd()}; edit it to add yours.`,
    );
  if (!gateway.servers.list().length)
    out(`No servers in ${gateway.configFile.path}: add some under "mcpServers".`);
  out('Running. Press Ctrl+C to stop.');
}

/** What `run` says about the relay link; the same text is not repeated. */
function linkText(state: GatewayState, localToken: string | undefined): string {
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
          `Clients send a bearer token for subject "${state.subject}" (the agent's own token works).`,
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
