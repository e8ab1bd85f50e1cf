// Whether a Linux desktop will show a tray icon at all: Electron's Tray uses the StatusNotifierItem
// protocol, which needs a host (KDE, most panels; GNOME only with the AppIndicator extension). Asked over
// D-Bus with `gdbus` (part of GLib, present wherever GNOME is): does anyone own org.kde.StatusNotifierWatcher?
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export type ExecFile = (command: string, args: string[]) => Promise<string>;

const run: ExecFile = async (command, args) =>
  (await promisify(execFile)(command, args, { timeout: 3000 })).stdout;

/** True when a tray icon will show; on other OSes always true. Without gdbus, guesses from the desktop's name. */
export async function hasStatusNotifierHost(
  platform: NodeJS.Platform,
  env: NodeJS.ProcessEnv,
  exec: ExecFile = run,
): Promise<boolean> {
  if (platform !== 'linux') return true;
  try {
    const answer = await exec('gdbus', [
      'call',
      '--session',
      '--dest',
      'org.freedesktop.DBus',
      '--object-path',
      '/org/freedesktop/DBus',
      '--method',
      'org.freedesktop.DBus.NameHasOwner',
      'org.kde.StatusNotifierWatcher',
    ]);
    return /\btrue\b/.test(answer);
  } catch {
    return !/gnome/i.test(env['XDG_CURRENT_DESKTOP'] ?? '');
  }
}

/** What the window says when there is no tray. */
export const NO_TRAY_HELP =
  'This desktop shows no tray icons (GNOME needs the "AppIndicator and KStatusNotifierItem Support" extension: ' +
  'install gnome-shell-extension-appindicator, then log out and in). Until then, this window is the app: ' +
  'closing it keeps the gateway running; start the app again to reopen it.';
