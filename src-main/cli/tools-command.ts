// `tools`: the first thing a user runs to check their setup. Starts every server, waits until each is up or
// has failed, prints each one's status and tools, stops them all, and exits 1 if any failed.
import type { Tool } from '@modelcontextprotocol/client';

import { errorMessage } from '../core/errors.js';
import type { ServerStatus } from '../core/servers/managed-server.js';
import { cliLogs, type CommonOptions, createGateway, killOnExit } from './cli-support.js';
import { EXIT } from './exit-codes.js';
import { statusLine } from './status-line.js';

interface ServerReport {
  status: ServerStatus;
  tools?: Pick<Tool, 'name' | 'description'>[];
  error?: string;
  /** The last lines it wrote to stderr, for a server that did not come up. */
  output?: string[];
}

/** Lines of a silent server's stderr quoted under its status. */
const OUTPUT_LINES = 5;

export async function toolsCommand(
  options: CommonOptions & { json?: boolean; timeoutSeconds: number },
): Promise<void> {
  const logs = cliLogs(options.logLevel);
  // A check of the setup starts the servers even where START_MCP_SERVERS=false keeps `run` from doing so.
  const gateway = await createGateway({ ...options, startMcpServers: 'true' }, logs);
  killOnExit(gateway);
  const reports: ServerReport[] = [];
  try {
    await gateway.start({ connect: false });
    await gateway.servers.settled(options.timeoutSeconds * 1000);
    for (const status of gateway.servers.list()) {
      const client = gateway.servers.client(status.name);
      const report: ServerReport = { status };
      if (status.state === 'starting' || status.state === 'restarting') {
        // Still not up when the wait ended: say what it did not do, and what it said meanwhile (issue 8.7).
        report.error = `did not answer initialize within ${options.timeoutSeconds} s (--timeout-seconds sets the wait).`;
        report.output = logs.serverOutput(status.name, OUTPUT_LINES);
      } else if (status.state !== 'running' && !status.disabled) {
        report.output = logs.serverOutput(status.name, OUTPUT_LINES);
      }
      if (client && status.counts?.tools !== 0 && client.getServerCapabilities()?.tools) {
        try {
          const tools: Tool[] = [];
          let cursor: string | undefined;
          do {
            const page = await client.listTools({ cursor });
            tools.push(...page.tools);
            cursor = page.nextCursor;
          } while (cursor);
          report.tools = tools.map(({ name, description }) => ({ name, description }));
        } catch (error) {
          report.error = `listing tools failed: ${errorMessage(error)}`;
        }
      }
      reports.push(report);
    }
  } finally {
    await gateway.close();
  }

  const failed = reports.filter((r) => r.error || (r.status.state !== 'running' && !r.status.disabled));
  if (options.json) {
    const json = reports.map(({ status, tools, error, output }) => ({
      name: status.name,
      state: status.state,
      disabled: status.disabled,
      error: error ?? (status.state === 'running' ? undefined : status.lastError),
      serverInfo: status.serverInfo,
      pid: status.pid,
      counts: status.counts,
      tools,
      output: output?.length ? output : undefined,
    }));
    process.stdout.write(`${JSON.stringify({ config: gateway.configFile.path, servers: json }, null, 2)}\n`);
  } else {
    const width = Math.max(12, ...reports.map((r) => r.status.name.length));
    process.stdout.write(`Servers in ${gateway.configFile.path}:\n`);
    if (!reports.length) process.stdout.write('  (none: add some under "mcpServers")\n');
    for (const { status, tools, error, output } of reports) {
      // A server still starting when the wait ended is reported as such, not as running.
      process.stdout.write(`${statusLine({ ...status, nextRetryAt: undefined }, width)}\n`);
      if (tools) process.stdout.write(`    tools: ${tools.map((t) => t.name).join(', ') || '(none)'}\n`);
      if (error) process.stdout.write(`    ${error}\n`);
      if (output?.length) {
        process.stdout.write(`    last output:\n${output.map((line) => `      ${line}\n`).join('')}`);
      }
    }
    if (failed.length) {
      process.stdout.write(
        `\n${failed.length} of ${reports.length} server(s) failed. The log file has their output.\n`,
      );
    }
  }
  process.exitCode = failed.length ? EXIT.failure : EXIT.ok;
}
