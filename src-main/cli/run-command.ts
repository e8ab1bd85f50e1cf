// `run`: start the servers and keep them up until SIGINT/SIGTERM, with one status line per change.
import { logFilePath } from '../core/config/paths.js';
import { errorMessage } from '../core/errors.js';
import type { ServerStatus } from '../core/servers/managed-server.js';
import { cliLogs, type CommonOptions, createGateway, killOnExit } from './cli-support.js';
import { EXIT } from './exit-codes.js';
import { statusLine } from './status-line.js';

export async function runCommand(options: CommonOptions & Record<string, unknown>): Promise<void> {
  const logs = cliLogs(options.logLevel);
  const gateway = await createGateway(options, logs);
  killOnExit(gateway);
  const out = (line: string) => process.stdout.write(`${line}\n`);

  const last = new Map<string, ServerStatus['state']>();
  const width = () => Math.max(12, ...gateway.servers.list().map((s) => s.name.length));
  gateway.servers.on('status', (status) => {
    // A line per state change; counts and pids arrive as updates of the same state and print once settled.
    const countsArrived = status.state === 'running' && status.counts && last.get(status.name) === 'running';
    if (last.get(status.name) === status.state && !countsArrived) return;
    last.set(status.name, status.state);
    if (status.state === 'running' && !status.counts) return;
    out(statusLine(status, width()));
  });
  gateway.servers.on('removed', (name) => {
    last.delete(name);
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
