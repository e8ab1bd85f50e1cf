// What every command shares: the log hub of a CLI process and the Gateway built from the command's flags.
import { localRelayFactory } from '../../src-relay/local-endpoint.js';
import { logFilePath, serverLogDir } from '../core/config/paths.js';
import { SETTING_KEYS, type SettingKey } from '../core/config/settings.js';
import { Gateway } from '../core/gateway.js';
import { LogHub, type LogLevel } from '../core/logging/log-hub.js';

export interface CommonOptions {
  config?: string;
  state?: string;
  logLevel: LogLevel;
}

/** The settings given as flags, keyed by setting. */
export function settingFlags(options: Record<string, unknown>): Partial<Record<SettingKey, string>> {
  const flags: Partial<Record<SettingKey, string>> = {};
  for (const key of SETTING_KEYS) {
    const value = options[key];
    if (typeof value === 'string') flags[key] = value;
  }
  return flags;
}

/** A LogHub that writes the per-user log file and, at `level` and above, stderr (stdout stays for output). */
export function cliLogs(level: LogLevel): LogHub {
  return new LogHub({
    level: level === 'debug' ? 'debug' : 'info',
    file: logFilePath(),
    serverLogDir: serverLogDir(),
    console: { write: (line) => process.stderr.write(line), level },
  });
}

/** Builds the CLI's Gateway; `extra.answersConsent` when a window answers consent requests (`ui`). */
export async function createGateway(
  options: CommonOptions & Record<string, unknown>,
  logs: LogHub,
  extra: { answersConsent?: boolean } = {},
): Promise<Gateway> {
  return Gateway.create({
    ...extra,
    cwd: process.cwd(),
    env: process.env,
    flags: settingFlags(options),
    configPath: options.config,
    statePath: options.state,
    logs,
    localEndpoint: localRelayFactory(logs.logger('local-relay')),
  });
}

/** Kills what is left with SIGKILL, synchronously: the last resort on any exit path. */
export function killOnExit(gateway: Gateway): void {
  process.on('exit', () => {
    for (const pid of gateway.servers.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ignore: already gone
      }
    }
  });
}
