// `mcpassistant-gateway`: the headless front of the core. Builds one Gateway per command, prints one clear
// line per failure with the fix, and exits with the codes in exit-codes.ts.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import { DEFAULT_CALLBACK_PORT } from '../core/auth/login.js';
import { flagName, SETTING_KEYS, SETTINGS } from '../core/config/settings.js';
import { errorMessage, GatewayError } from '../core/errors.js';
import { PRODUCT } from '../core/gateway.js';
import { LOG_LEVELS } from '../core/logging/log-hub.js';
import { clientTokenCommand, loginCommand, logoutCommand, whoamiCommand } from './auth-commands.js';
import type { CommonOptions } from './cli-support.js';
import { clientTokensCommand, clientTokensRevokeCommand } from './client-tokens-command.js';
import { clientsAddCommand, clientsListCommand, clientsRevokeCommand } from './clients-command.js';
import {
  configPathCommand,
  configSetCommand,
  configShowCommand,
  configUnsetCommand,
} from './config-commands.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { menuCommand, type MenuOptions } from './menu.js';
import { runCommand } from './run-command.js';
import { toolsCommand } from './tools-command.js';
import { uiCommand, type UiOptions } from './ui-command.js';

const logLevelOption = () =>
  new Option(
    '--log-level <level>',
    'lowest level shown on stderr (the log file gets info and up, or debug with debug)',
  )
    .choices(LOG_LEVELS)
    .default('error');
const configOption = () => new Option('--config <path>', 'mcp.json to use (env AGENT_CONFIG_PATH)');
const stateOption = () => new Option('--state <path>', 'runtime state file to use (env AGENT_STATE_PATH)');

function addSettingOptions(command: Command): Command {
  for (const key of SETTING_KEYS) {
    const d = SETTINGS[key];
    command.addOption(new Option(`${flagName(key)} <value>`, `${d.description} (env ${d.env})`));
  }
  return command;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a whole number.');
  return n;
}

/** Commander's collector for a repeatable option (`--server a --server b`). */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of seconds above 0.');
  return n;
}

export function buildProgram(): Command {
  const program = new Command('mcpassistant-gateway')
    .description('Run the MCP servers in your mcp.json and make them reachable by remote MCP clients.')
    .version(PRODUCT.version)
    .showSuggestionAfterError()
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();

  addSettingOptions(
    program
      .command('run')
      .description(
        'start the servers, connect to the relay (or serve them locally), run until SIGINT, SIGTERM or SIGHUP',
      )
      .addOption(configOption())
      .addOption(stateOption())
      .addOption(logLevelOption()),
  ).action((options: CommonOptions & Record<string, unknown>) => runCommand(options));

  addSettingOptions(
    program
      .command('ui')
      .description(
        'run the gateway and its window in your browser (served on 127.0.0.1 with a one-time token) until SIGINT, SIGTERM or SIGHUP',
      )
      .option('--port <port>', 'port on 127.0.0.1 for the window (0: any free port)', positiveInt, 0)
      .option('--no-open', 'print the address instead of opening the browser')
      .addOption(configOption())
      .addOption(stateOption())
      .addOption(logLevelOption()),
  ).action((options: UiOptions & Record<string, unknown>) => uiCommand(options));

  program
    .command('tools')
    .description("start the servers, list each one's status and tools, stop them; exit 1 if any failed")
    .option('--json', 'print JSON instead of text')
    .option('--timeout-seconds <seconds>', 'how long to wait for the servers to start', positiveSeconds, 60)
    .addOption(configOption())
    .addOption(stateOption())
    .addOption(logLevelOption())
    .action((options: CommonOptions & { json?: boolean; timeoutSeconds: number }) => toolsCommand(options));

  program
    .command('login')
    .description('sign in to the relay in your browser (or get a token from a relay without sign-in)')
    .option('--relay <url>', 'the relay, e.g. https://relay.example.com (default REMOTE_SERVER_BASE_URL)')
    .option('--subject <subject>', 'the agent id to ask for (default: the one the relay gives you)')
    .option(
      '--callback-port <port>',
      'loopback port for the browser to come back to',
      positiveInt,
      DEFAULT_CALLBACK_PORT,
    )
    .option('--no-browser', 'print the sign-in address instead of opening a browser')
    .option('--expiry-minutes <minutes>', 'lifetime of the token (1-1440)', positiveInt)
    .addOption(configOption())
    .addOption(stateOption())
    .action(
      (
        options: CommonOptions & {
          relay?: string;
          subject?: string;
          callbackPort: number;
          browser: boolean;
          expiryMinutes?: number;
        },
      ) => loginCommand(options),
    );
  program
    .command('logout')
    .description('revoke the tokens on the relay and remove them from this computer')
    .addOption(configOption())
    .addOption(stateOption())
    .action((options: CommonOptions) => logoutCommand(options));
  program
    .command('whoami')
    .description('the subject, relay and token expiry this gateway uses; exit 1 when not signed in')
    .option('--json', 'print JSON instead of text')
    .addOption(configOption())
    .addOption(stateOption())
    .action((options: CommonOptions & { json?: boolean }) => whoamiCommand(options));
  const clients = program
    .command('clients')
    .description(
      'who has access to this agent: the client tokens created here and the OAuth clients allowed on the relay (list, add, revoke)',
    )
    .option('--json', 'print JSON instead of text')
    .addOption(configOption())
    .addOption(stateOption())
    .action((options: CommonOptions & { json?: boolean }) => clientsListCommand(options));
  clients
    .command('list')
    .description(
      'the client tokens created here (name, id, servers, expiry) and the OAuth clients allowed (default)',
    )
    .option('--json', 'print one JSON object: {relay, subject, tokens, grants, grantsNote?}')
    .addOption(configOption())
    .addOption(stateOption())
    // `clients --json list` and `clients list --json` alike: the parent's options count too.
    .action((_options: unknown, command: Command) =>
      clientsListCommand(command.optsWithGlobals<CommonOptions & { json?: boolean }>()),
    );
  clients
    .command('add')
    .description(
      'create a client token for MCP clients (not the agent token) and print it once, with a client config',
    )
    .argument('<name>', 'what to call it in `clients list` and the window, e.g. "laptop Claude Code"')
    .option(
      '--server <name>',
      'a server it may reach; repeat for more (default: all the agent may serve)',
      collect,
    )
    .option('--servers <names>', 'the same, comma-separated')
    .option('--days <days>', 'lifetime of the token (1-365)', positiveInt, 30)
    .option('--json', 'print {token, header, endpoints, config} instead of text')
    .addOption(configOption())
    .addOption(stateOption())
    .action((name: string, _options: unknown, command: Command) =>
      clientsAddCommand(
        name,
        command.optsWithGlobals<
          CommonOptions & { server?: string[]; servers?: string; days: number; json?: boolean }
        >(),
      ),
    );
  clients
    .command('revoke')
    .description(
      "revoke a client token (by id) or an OAuth client's grants (by client_id); clients are refused at once",
    )
    .argument('[id]', 'a client token id (or name) or an OAuth client_id, as `clients list` shows them')
    .option('--all', 'revoke every client token created here and every OAuth client allowed on this agent')
    .addOption(configOption())
    .addOption(stateOption())
    .action((id: string | undefined, _options: unknown, command: Command) =>
      clientsRevokeCommand(id, command.optsWithGlobals<CommonOptions & { all?: boolean }>()),
    );

  // Older names, kept for scripts (hidden from --help): `client-token` is `clients add`, `client-tokens`
  // lists only the tokens (a JSON array), `client-tokens revoke` revokes only a token.
  program
    .command('client-token', { hidden: true })
    .description('older name of `clients add`: print a client token for MCP clients of the relay')
    .option('--days <days>', 'lifetime of the token (1-365)', positiveInt, 30)
    .option('--servers <names>', 'comma-separated servers it may reach (default: all the agent may serve)')
    .option('--name <name>', 'what to call it in `clients list` and the window (default: CLI and the time)')
    .addOption(configOption())
    .addOption(stateOption())
    .action((options: CommonOptions & { days: number; servers?: string; name?: string }) =>
      clientTokenCommand(options),
    );
  const clientTokens = program
    .command('client-tokens', { hidden: true })
    .description('older name of `clients list` for the client tokens only')
    .option('--json', 'print JSON instead of text')
    .addOption(configOption())
    .addOption(stateOption())
    .action((options: CommonOptions & { json?: boolean }) => clientTokensCommand(options));
  clientTokens
    .command('revoke')
    .description('older name of `clients revoke <id>` for a client token')
    .argument('[id]', 'the id (or name) `clients list` shows')
    .addOption(configOption())
    .addOption(stateOption())
    .action((id: string | undefined, options: CommonOptions) => clientTokensRevokeCommand(id, options));

  program
    .command('menu')
    .description('a menu of slash commands in this terminal (what no arguments open in a terminal)')
    .addOption(configOption())
    .addOption(stateOption())
    .action((options: MenuOptions) => menuCommand(options));

  const config = program.command('config').description('show and change settings');
  config
    .command('show')
    .description('every setting, its value (secrets redacted) and where it came from')
    .option('--json', 'print JSON instead of text')
    .addOption(configOption())
    .addOption(stateOption())
    .action((options: CommonOptions & { json?: boolean }) => configShowCommand(options));
  config
    .command('path')
    .description('where mcp.json is (with --json: also the runtime state and the log file)')
    .option('--json', 'print JSON instead of text')
    .addOption(configOption())
    .addOption(stateOption())
    .action((options: CommonOptions & { json?: boolean }) => configPathCommand(options));
  addSettingOptions(
    config
      .command('set')
      .description('save settings in the runtime state file, e.g. config set --request-timeout-seconds 60')
      .addOption(stateOption()),
  ).action((options: Record<string, unknown> & { state?: string }) => configSetCommand(options));
  config
    .command('unset')
    .description('remove saved settings, e.g. config unset request-timeout-seconds')
    .argument('<name...>', 'setting names (REQUEST_TIMEOUT_SECONDS, request-timeout-seconds …)')
    .addOption(stateOption())
    .action((names: string[], options: { state?: string }) => configUnsetCommand(names, options));

  for (const command of [program, ...program.commands, ...config.commands, ...clients.commands]) {
    command.exitOverride().showSuggestionAfterError();
  }
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    if (argv.length <= 2) {
      // In a terminal, no arguments open the menu; piped or scripted, they print the help.
      if (!process.stdin.isTTY || !process.stdout.isTTY) {
        program.outputHelp();
        return EXIT.ok;
      }
      argv = [...argv, 'menu'];
    }
    await program.parseAsync(argv);
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version come through here too, with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof GatewayError) {
      process.stderr.write(`error: ${error.message}\n`);
      return exitCodeFor(error.code);
    }
    process.stderr.write(`error: ${errorMessage(error)}\n`);
    return EXIT.failure;
  }
}

// `mcpassistant-gateway config show | head` closes our stdout early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});
const code = await main(process.argv);
// A command that set its own code (run stopping with 4, say) may have done so after main() read it: a plain
// success must not overwrite it.
if (code !== EXIT.ok || process.exitCode === undefined) process.exitCode = code;
