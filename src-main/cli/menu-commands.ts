// The menu's slash commands as data, with Tab completion and "did you mean" for them.
import { SETTING_KEYS, SETTINGS } from '../core/config/settings.js';

export const MENU_COMMANDS = [
  { name: '/help', args: '', summary: 'this list' },
  { name: '/login', args: '[RELAY_URL]', summary: 'sign in to the relay in your browser' },
  { name: '/logout', args: '', summary: 'revoke the tokens on the relay and remove them from this computer' },
  { name: '/show', args: '', summary: 'every setting, its value (secrets redacted) and where it came from' },
  {
    name: '/set',
    args: 'KEY VALUE',
    summary: 'save a setting in the runtime state file (Tab completes KEY)',
  },
  { name: '/unset', args: 'KEY…', summary: 'remove saved settings (back to the environment or the default)' },
  { name: '/settings', args: '', summary: 'the settings you can /set, with their current values' },
  {
    name: '/local',
    args: '',
    summary: 'stop using a relay: serve the servers on the local endpoint (keeps your sign-in)',
  },
  { name: '/start', args: '', summary: 'start the servers in mcp.json in the background and serve them' },
  { name: '/stop', args: '', summary: 'stop the servers started by /start' },
  { name: '/status', args: '', summary: "the relay link and each server's state" },
  { name: '/logs', args: 'on|off', summary: 'stream the log (info and up) to this terminal, or stop' },
  { name: '/run', args: '', summary: 'like /start, in the foreground: Ctrl+C stops it and returns here' },
  { name: '/quit', args: '', summary: 'stop the servers and leave' },
] as const;

export type MenuCommandName = (typeof MENU_COMMANDS)[number]['name'];

/** The runtime-state names of the settings that can be saved: what /set takes. */
export const SETTABLE_KEYS: readonly string[] = SETTING_KEYS.flatMap((key) => {
  const state: string | undefined = SETTINGS[key].state;
  return state ? [state] : [];
});

export const LOGS_ARGS = ['on', 'off'] as const;

/** The lines of /help. */
export function helpText(): string {
  const usage = MENU_COMMANDS.map((c) => (c.args ? `${c.name} ${c.args}` : c.name));
  const width = Math.max(...usage.map((u) => u.length));
  return MENU_COMMANDS.map((c, i) => `  ${usage[i]!.padEnd(width)}  ${c.summary}`).join('\n');
}

/** readline's completer: commands on the first word, setting keys after /set, on|off after /logs. */
export function completeMenuLine(line: string): [string[], string] {
  const match = /^\s*(\S+)(\s+)(\S*)$/.exec(line);
  if (!match) {
    const word = line.trimStart();
    if (/\s/.test(word)) return [[], line];
    const hits = MENU_COMMANDS.map((c) => c.name).filter((name) => name.startsWith(word));
    return [hits, word];
  }
  const [, command = '', , word = ''] = match;
  const choices =
    command === '/set' || command === '/unset' ? SETTABLE_KEYS : command === '/logs' ? LOGS_ARGS : [];
  return [choices.filter((choice) => choice.startsWith(word.toLowerCase())), word];
}

/** The command `name` most likely meant, if any is close: a prefix or within two edits. */
export function suggestCommand(name: string): MenuCommandName | undefined {
  const typed = name.toLowerCase();
  const names = MENU_COMMANDS.map((c) => c.name);
  const prefixed = names.find((n) => n.startsWith(typed) && typed.length > 1);
  if (prefixed) return prefixed;
  let best: { name: MenuCommandName; distance: number } | undefined;
  for (const candidate of names) {
    const distance = editDistance(typed, candidate);
    if (distance <= 2 && (!best || distance < best.distance)) best = { name: candidate, distance };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The commands' messages in the menu's words: they are shared with the CLI, which names its own commands
 * and flags (`mcpassistant-gateway login`, `--relay`); inside the menu the advice must be what works there.
 */
const MENU_WORDING: readonly [RegExp, string][] = [
  [/`?mcpassistant-gateway login`?/g, '/login'],
  [/`?mcpassistant-gateway logout`?/g, '/logout'],
  [/pass --relay (\S+), or set REMOTE_SERVER_BASE_URL/g, 'type /login $1, or /set remote_server_base_url $1'],
  [/Run config show for the list\./g, '/settings lists them.'],
];

/** `text` with CLI advice replaced by the menu's own commands. */
export function menuWording(text: string): string {
  return MENU_WORDING.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}
