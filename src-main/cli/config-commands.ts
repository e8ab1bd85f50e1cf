// `config show | path | set | unset`.
import {
  findSettingKey,
  flagName,
  resolveSettings,
  saveSettings,
  SETTING_KEYS,
  type SettingKey,
  SETTINGS,
} from '../core/config/settings.js';
import { GatewayError } from '../core/errors.js';
import { REDACTED } from '../core/logging/redactor.js';
import { type CommonOptions, settingFlags } from './cli-support.js';

type PathOptions = Pick<CommonOptions, 'config' | 'state'>;

const resolve = (options: PathOptions) =>
  resolveSettings({
    cwd: process.cwd(),
    env: process.env,
    configPath: options.config,
    statePath: options.state,
  });

function display(key: SettingKey, value: unknown): string {
  if (value === undefined) return '';
  if ((SETTINGS[key] as { secret?: boolean }).secret) return REDACTED;
  if (Array.isArray(value)) return value.join(',');
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const SOURCE_TEXT: Record<string, string> = {
  environment: 'environment',
  '.env': '.env',
  state: 'runtime state',
  default: 'default',
  derived: 'derived from',
  flag: 'flag',
  unset: 'not set',
  'walk-up': 'found walking up from the working directory',
  'user-dir': 'per-user directory',
  'beside-config': 'beside mcp.json',
};

export async function configShowCommand(options: PathOptions & { json?: boolean }): Promise<void> {
  const resolved = await resolve(options);
  const rows = SETTING_KEYS.map((key) => ({
    name: SETTINGS[key].env,
    value: display(key, resolved.values[key]),
    source: resolved.origins[key].source,
    detail: resolved.origins[key].detail,
  }));
  const { paths } = resolved;
  if (options.json) {
    const files = {
      config: paths.config,
      state: paths.state,
      logFile: paths.logFile,
      dotenv: resolved.dotenvPath ?? null,
    };
    process.stdout.write(`${JSON.stringify({ settings: rows, files }, null, 2)}\n`);
    return;
  }
  const width = Math.max(...rows.map((r) => r.name.length));
  const valueWidth = Math.min(48, Math.max(5, ...rows.map((r) => r.value.length)));
  for (const row of rows) {
    const from = row.source === 'derived' ? `derived from ${row.detail}` : SOURCE_TEXT[row.source];
    const where = row.source === '.env' || row.source === 'state' ? ` (${row.detail})` : '';
    process.stdout.write(
      `${row.name.padEnd(width)}  ${(row.value || '-').padEnd(valueWidth)}  ${from}${where}\n`,
    );
  }
  process.stdout.write(
    `\nmcp.json       ${paths.config.path}  (${SOURCE_TEXT[paths.config.source] ?? paths.config.source})\n`,
  );
  process.stdout.write(
    `runtime state  ${paths.state.path}  (${SOURCE_TEXT[paths.state.source] ?? paths.state.source})\n`,
  );
  process.stdout.write(`log file       ${paths.logFile}\n`);
  if (resolved.dotenvPath) process.stdout.write(`.env           ${resolved.dotenvPath}\n`);
}

export async function configPathCommand(options: PathOptions & { json?: boolean }): Promise<void> {
  const { paths } = await resolve(options);
  if (options.json) process.stdout.write(`${JSON.stringify(paths, null, 2)}\n`);
  else process.stdout.write(`${paths.config.path}\n`);
}

export async function configSetCommand(options: Record<string, unknown> & { state?: string }): Promise<void> {
  const changes = settingFlags(options);
  if (!Object.keys(changes).length) {
    throw new GatewayError(
      'usage',
      `config set needs at least one setting, e.g. ${flagName('requestTimeoutSeconds')} 60 (see config set --help).`,
    );
  }
  await saveSettingsCommand(options, changes);
}

export async function configUnsetCommand(names: string[], options: { state?: string }): Promise<void> {
  const changes: Partial<Record<SettingKey, undefined>> = {};
  for (const name of names) {
    const key = findSettingKey(name);
    if (!key)
      throw new GatewayError(
        'setting-invalid',
        `There is no setting "${name}". Run config show for the list.`,
      );
    changes[key] = undefined;
  }
  await saveSettingsCommand(options, changes);
}

/**
 * Saves `changes` in the runtime state and prints one line per setting (with a note where the environment
 * overrides it). `typedAs`: how the user named the settings, for the error of an invalid value.
 */
export async function saveSettingsCommand(
  options: { state?: string },
  changes: Partial<Record<SettingKey, string | undefined>>,
  typedAs: 'flag' | 'state-key' = 'flag',
): Promise<void> {
  const before = await resolve(options);
  const stored = await saveSettings(before.paths.state.path, changes, { typedAs });
  for (const [key, value] of Object.entries(stored) as [SettingKey, unknown][]) {
    const name = SETTINGS[key].env;
    const shown = value === undefined ? 'removed' : `= ${display(key, value)}`;
    process.stdout.write(`${name} ${shown} (saved in ${before.paths.state.path})\n`);
    const origin = before.origins[key];
    if (origin.source === 'environment' || origin.source === '.env') {
      process.stdout.write(
        `  note: ${name} is also set in ${origin.source === '.env' ? origin.detail : 'the environment'}, which takes precedence.\n`,
      );
    }
  }
}
