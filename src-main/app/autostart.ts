// Start at login, off until the user turns it on, read back from the OS every time (the tray checkbox
// shows the truth, not a remembered wish):
// - macOS and Windows: app.setLoginItemSettings, read back with getLoginItemSettings given the same `path`
//   and `args` (Windows keys the entry on them: reading without them reports another entry);
// - Linux: an XDG autostart entry, $XDG_CONFIG_HOME/autostart/mcpassistant-gateway.desktop
//   (https://specifications.freedesktop.org/autostart-spec/latest/), whose Exec is quoted per the Desktop
//   Entry spec and points at $APPIMAGE under an AppImage (the mounted path changes on every run).
import { mkdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

import writeFileAtomic from 'write-file-atomic';

import type { AutostartPort } from '../control/control-api.js';
import type { AppPort } from './electron-ports.js';

/** The argument the app gets when the OS starts it at login: no window, only the tray. */
export const HIDDEN_ARG = '--hidden';
export const DESKTOP_FILE = 'mcpassistant-gateway.desktop';

/** The command line that starts this app: the executable, plus the app folder when not packaged. */
export interface LaunchCommand {
  executable: string;
  args: string[];
}

export function launchCommand(
  app: Pick<AppPort, 'isPackaged' | 'getAppPath'>,
  execPath: string,
  env: NodeJS.ProcessEnv,
): LaunchCommand {
  // Under an AppImage, execPath is inside a mount that changes per run; $APPIMAGE is the file itself.
  const executable = env['APPIMAGE'] || execPath;
  return { executable, args: app.isPackaged ? [] : [app.getAppPath()] };
}

/** macOS and Windows: the OS's login items. */
export function loginItemAutostart(
  app: Pick<AppPort, 'setLoginItemSettings' | 'getLoginItemSettings'>,
  platform: NodeJS.Platform,
  command: LaunchCommand,
): AutostartPort {
  // Windows starts `path args…`; macOS starts the bundle, and tells the app it was opened at login.
  const query = platform === 'win32' ? { path: command.executable, args: [...command.args, HIDDEN_ARG] } : {};
  return {
    get: () => Promise.resolve(app.getLoginItemSettings(query).openAtLogin),
    set: (enabled) => {
      app.setLoginItemSettings({ openAtLogin: enabled, ...query });
      return Promise.resolve(app.getLoginItemSettings(query).openAtLogin);
    },
  };
}

/**
 * One argument of a Desktop Entry `Exec` key: in double quotes, with `"`, `` ` ``, `$` and `\` escaped by a
 * backslash, then the string-level escaping of backslashes applied again, and `%` doubled (field codes).
 */
export function quoteExecArg(arg: string): string {
  const quoted = `"${arg.replace(/(["`$\\])/g, '\\$1')}"`;
  return quoted.replace(/\\/g, '\\\\').replace(/%/g, '%%');
}

export function desktopEntry(command: LaunchCommand): string {
  const exec = [command.executable, ...command.args, HIDDEN_ARG].map(quoteExecArg).join(' ');
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=MCP Assistant Gateway',
    'Comment=Reach the MCP servers on this computer from any MCP client',
    `Exec=${exec}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** Linux: an XDG autostart file. `env` gives XDG_CONFIG_HOME and HOME (tests use a temporary home). */
export function xdgAutostart(
  command: LaunchCommand,
  env: NodeJS.ProcessEnv,
): AutostartPort & { path: string } {
  const configHome = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  const path = join(configHome, 'autostart', DESKTOP_FILE);
  const get = async () => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return false;
    }
    // A desktop environment's own "off" switch counts as off, as the user sees it.
    return !/^Hidden\s*=\s*true\s*$/m.test(text) && !/^X-GNOME-Autostart-enabled\s*=\s*false\s*$/m.test(text);
  };
  return {
    path,
    get,
    async set(enabled) {
      if (enabled) {
        await mkdir(join(configHome, 'autostart'), { recursive: true });
        await writeFileAtomic(path, desktopEntry(command), { mode: 0o644 });
      } else {
        await rm(path, { force: true });
      }
      return get();
    },
  };
}

/** The start-at-login port for this platform. */
export function autostartFor(
  platform: NodeJS.Platform,
  app: Pick<AppPort, 'setLoginItemSettings' | 'getLoginItemSettings' | 'isPackaged' | 'getAppPath'>,
  execPath: string,
  env: NodeJS.ProcessEnv,
): AutostartPort {
  const command = launchCommand(app, execPath, env);
  return platform === 'darwin' || platform === 'win32'
    ? loginItemAutostart(app, platform, command)
    : xdgAutostart(command, env);
}
