// The app's own preferences (not the gateway's settings, which stay where the CLI keeps them): a schema'd
// electron-store file, config.json in the app's data folder. A hand-edited value outside the schema is
// refused by electron-store at load (the app then starts with the defaults and says so in the log).
import Store from 'electron-store';

export interface WindowBounds {
  x?: number;
  y?: number;
  width: number;
  height: number;
}

export interface Preferences {
  /** The status window's last position and size. */
  windowBounds?: WindowBounds;
  /** The first-run window (which offers start at login) was shown. */
  firstRunDone: boolean;
  /** Desktop notifications when the link drops or a server keeps failing. */
  notifications: boolean;
}

const SCHEMA = {
  windowBounds: {
    type: 'object',
    properties: {
      x: { type: 'integer' },
      y: { type: 'integer' },
      width: { type: 'integer', minimum: 200, maximum: 10_000 },
      height: { type: 'integer', minimum: 150, maximum: 10_000 },
    },
    required: ['width', 'height'],
    additionalProperties: false,
  },
  firstRunDone: { type: 'boolean', default: false },
  notifications: { type: 'boolean', default: true },
} as const;

/** The preference store; `cwd` must be absolute outside Electron (tests), and defaults to userData inside. */
export function openPreferences(cwd?: string): Store<Preferences> {
  return new Store<Preferences>({
    name: 'preferences',
    schema: SCHEMA,
    ...(cwd ? { cwd } : {}),
    clearInvalidConfig: true,
  });
}
