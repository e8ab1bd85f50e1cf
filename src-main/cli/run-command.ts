// `run`: start the servers and keep them up until SIGINT/SIGTERM, with one status line per change.
import { logFilePath } from '../core/config/paths.js';
import { errorMessage } from '../core/errors.js';
import { cliLogs, type CommonOptions, createGateway, killOnExit } from './cli-support.js';
import { EXIT } from './exit-codes.js';
import { statusLine } from './status-line.js';

export async function runCommand(options: CommonOptions & Record<string, unknown>): Promise<void> {
  const logs = cliLogs(options.logLevel);
  const gateway = await createGateway(options, logs);
  killOnExit(gateway);
  const out = (line: string) => process.stdout.write(`${line}\n`);

  // A line whenever what it says changes; a running server's line waits for its tool counts.
  const printed = new Map<string, string>();
  const width = () => Math.max(12, ...gateway.servers.list().map((s) => s.name.length));
  gateway.servers.on('status', (status) => {
    if (status.state === 'running' && !status.counts) return;
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

  let stopping: Promise<void> | undefined;
  const stop = (reason: string, code: number) => {
    if (stopping) {
      out('Stopping now.');
      process.exit(code || 130);
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
  await gateway.start();
  if (!gateway.servers.list().length)
    out(`No servers in ${gateway.configFile.path}: add some under "mcpServers".`);
  out('Running. Press Ctrl+C to stop.');
}
