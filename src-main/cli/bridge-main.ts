// `mcpassistant-gateway-bridge`: serve the stdio servers of mcp.json as local HTTP endpoints.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import type { McpConfig, ServerSpec } from '../core/config/mcp-config.js';
import { errorMessage, GatewayError } from '../core/errors.js';
import { PRODUCT } from '../core/gateway.js';
import { LOG_LEVELS } from '../core/logging/log-hub.js';
import { watchParent } from '../core/parent-watch.js';
import { cliLogs, type CommonOptions, createGateway, killOnExit } from './cli-support.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { GatewayBridge } from './gateway-bridge.js';

interface BridgeCliOptions extends CommonOptions {
  name?: string;
  host: string;
  token?: string;
  isolate?: boolean;
  allowOrigin: string[];
  allowHost: string[];
  sessionIdleSeconds: number;
}

const positive = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number above 0.');
  return n;
};
const collect = (value: string, previous: string[]) => [...previous, value];

async function bridge(options: BridgeCliOptions): Promise<void> {
  const logs = cliLogs(options.logLevel);
  // A token on the command line shows in `ps`: the environment is the better place for it.
  const token = options.token ?? process.env['MCPASSISTANT_BRIDGE_TOKEN'];
  logs.redactor.addSecret(token);
  if (!/^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(options.host) && !token) {
    throw new GatewayError(
      'usage',
      `--host ${options.host} would let other machines run your servers: give a --token (or MCPASSISTANT_BRIDGE_TOKEN) too`,
    );
  }
  const gateway = await createGateway({ ...options }, logs);
  killOnExit(gateway);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const config = await gateway.configFile.load();
  for (const [name, entry] of config.servers) if (!entry.ok) out(`✗ ${name}: ${entry.error}`);
  const specs = GatewayBridge.select(
    gateway,
    [...config.servers.values()].flatMap((entry) => (entry.ok ? [entry.spec] : [])),
    options.name,
  );
  const isolated = (spec: ServerSpec) => options.isolate || spec.bridge?.isolate;
  const shared: McpConfig = {
    path: config.path,
    servers: new Map(specs.filter((spec) => !isolated(spec)).map((spec) => [spec.name, { ok: true, spec }])),
  };
  await gateway.servers.apply(shared);
  const server = new GatewayBridge(gateway, logs, {
    host: options.host,
    name: options.name,
    token,
    isolate: options.isolate,
    allowedOrigins: options.allowOrigin,
    allowedHosts: options.allowHost,
    sessionIdleMs: options.sessionIdleSeconds * 1000,
    requestTimeoutMs: gateway.settings.values.requestTimeoutSeconds * 1000,
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      void gateway.servers.kill().finally(() => process.exit(130));
      return;
    }
    stopping = true;
    out(`${signal}: stopping…`);
    void server
      .close()
      .then(() => gateway.close())
      .then(() => {
        out('Stopped.');
        setTimeout(() => process.exit(0), 3000).unref();
      });
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop(signal));
  watchParent((parent) => stop(`The process that started it (pid ${parent}) ended`));

  let endpoints: Awaited<ReturnType<typeof server.listen>>;
  try {
    endpoints = await server.listen(specs);
  } catch (error) {
    // A port in use, say: the shared servers already run and would keep this process alive.
    await server.close().catch(() => undefined); // ignore: the error below is the one to report
    await gateway.close().catch(() => undefined); // ignore: as above
    throw error;
  }
  // The table comes once the shared servers are up (or have failed), so its URLs work at once.
  await gateway.servers.settled(60_000);
  for (const status of gateway.servers.list()) {
    if (status.state !== 'running')
      out(`✗ ${status.name}: ${status.state}${status.lastError ? `: ${status.lastError}` : ''}`);
  }
  const width = Math.max(12, ...endpoints.map((e) => e.name.length));
  out(`mcpassistant-gateway-bridge: ${config.path}`);
  out(`${'server'.padEnd(width)}  ${'Streamable HTTP'.padEnd(34)}  legacy SSE`);
  for (const e of endpoints) {
    const notes = [
      e.isolate ? 'one process per session' : 'shared process',
      e.via === 'supergateway' ? 'supergateway entry, run natively' : '',
    ]
      .filter(Boolean)
      .join(', ');
    out(`${e.name.padEnd(width)}  ${e.url.padEnd(34)}  ${e.sseUrl}  (${notes})`);
  }
  if (token) out('Clients send  Authorization: Bearer <the --token value>');
  out('Running. Press Ctrl+C to stop.');
}

const program = new Command('mcpassistant-gateway-bridge')
  .description(
    'Serve the stdio MCP servers of mcp.json (and a url server named by --name) as local HTTP endpoints (Streamable HTTP and legacy SSE).',
  )
  .version(PRODUCT.version)
  .option('--config <path>', 'mcp.json to use (env AGENT_CONFIG_PATH)')
  .option('--state <path>', 'runtime state file to use (env AGENT_STATE_PATH)')
  .option('--name <name>', 'serve only this server')
  .option(
    '--host <host>',
    'interface to listen on; anything but loopback exposes the servers to the network',
    '127.0.0.1',
  )
  .option(
    '--token <token>',
    'require Authorization: Bearer <token> on every request (env MCPASSISTANT_BRIDGE_TOKEN)',
  )
  .option('--isolate', 'give every client session its own process (default: one shared process per server)')
  .option(
    '--allow-origin <origin>',
    'a browser origin allowed besides loopback ones (repeatable)',
    collect,
    [],
  )
  .option(
    '--allow-host <host>',
    'a Host header value allowed besides loopback names (repeatable)',
    collect,
    [],
  )
  .option(
    '--session-idle-seconds <n>',
    'end sessions idle this long, even with an open stream',
    positive,
    600,
  )
  .addOption(
    new Option('--log-level <level>', 'lowest level shown on stderr').choices(LOG_LEVELS).default('error'),
  )
  .showSuggestionAfterError()
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .action((options: BridgeCliOptions) => bridge(options));

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.usage);
  if (error instanceof GatewayError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(exitCodeFor(error.code));
  }
  process.stderr.write(`error: ${errorMessage(error)}\n`);
  process.exit(EXIT.failure);
}
