// The control API over Electron IPC: one `ipcMain.handle` per call of the contract (channel = the call's
// name, e.g. `servers:list`), each checking that the calling frame is the app's own top-level page
// (app://gateway) before the ControlApi validates the arguments; events go only to the pages that
// subscribed to them, on one channel, as (event name, payload) — never an Electron object.
import {
  CALL_NAMES,
  CONTROL_EVENTS,
  type ControlResult,
  EVENT_NAMES,
  type EventName,
} from '../../src-shared/control.js';
import type { ControlApi } from '../control/control-api.js';
import type { Logger } from '../core/logging/log-hub.js';
import { APP_ORIGIN } from './app-protocol.js';
import type { IpcInvokeEvent, IpcMainPort, IpcSender } from './electron-ports.js';

/** Channels besides the calls: (un)subscribing, and the events pushed to a page. */
export const IPC_SUBSCRIBE = 'control:subscribe';
export const IPC_UNSUBSCRIBE = 'control:unsubscribe';
export const IPC_EVENT = 'control:event';

/** Whether an IPC message comes from the app's own page: the top frame, served from app://gateway. */
export function isAppFrame(event: IpcInvokeEvent): boolean {
  const frame = event.senderFrame;
  if (!frame || frame.parent) return false;
  try {
    // Compared by scheme and host: WHATWG URL gives a non-special scheme the origin "null" outside Chromium.
    const url = new URL(frame.url);
    return `${url.protocol}//${url.host}` === APP_ORIGIN && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

/** The sender frame's scheme and host, for a log line: never its path, query or fragment (codes, tokens). */
function frameOrigin(event: IpcInvokeEvent): string {
  const frame = event.senderFrame;
  if (!frame) return 'a destroyed frame';
  try {
    const url = new URL(frame.url);
    return url.host ? `${url.protocol}//${url.host}` : url.protocol;
  } catch {
    return 'a frame with an unreadable URL';
  }
}

const forbidden = (what: string): ControlResult<never> => ({
  ok: false,
  code: 'forbidden',
  message: `${what} refused: only the app's own window (${APP_ORIGIN}) may use the gateway. Nothing was changed.`,
});

export class IpcTransport {
  readonly #ipcMain: IpcMainPort;
  readonly #subscribers = new Map<EventName, Map<number, IpcSender>>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #channels: string[] = [];

  constructor(ipcMain: IpcMainPort, control: Pick<ControlApi, 'call' | 'subscribe'>, log: Logger) {
    this.#ipcMain = ipcMain;
    const handle = (channel: string, listener: (event: IpcInvokeEvent, arg: unknown) => unknown) => {
      ipcMain.handle(channel, (event, ...args) => {
        if (!isAppFrame(event)) {
          log.warn(`IPC ${channel} from ${frameOrigin(event)} refused`);
          return forbidden(channel);
        }
        // One plain-object argument per call; anything more is malformed.
        if (args.length > 1)
          return {
            ok: false,
            code: 'invalid-args',
            message: `${channel}: takes one argument object (got ${args.length}). Nothing was changed.`,
          };
        return listener(event, args[0]);
      });
      this.#channels.push(channel);
    };
    for (const name of CALL_NAMES) handle(name, (_event, args) => control.call(name, args));
    const eventName = (value: unknown): EventName | undefined =>
      typeof value === 'string' && Object.hasOwn(CONTROL_EVENTS, value) ? (value as EventName) : undefined;
    handle(IPC_SUBSCRIBE, (event, value) => {
      const name = eventName(value);
      if (!name) return unknownEvent(value);
      const pages = this.#subscribers.get(name)!;
      if (!pages.has(event.sender.id)) {
        pages.set(event.sender.id, event.sender);
        event.sender.once('destroyed', () => pages.delete(event.sender.id));
      }
      return { ok: true, value: null };
    });
    handle(IPC_UNSUBSCRIBE, (event, value) => {
      const name = eventName(value);
      if (!name) return unknownEvent(value);
      this.#subscribers.get(name)!.delete(event.sender.id);
      return { ok: true, value: null };
    });
    for (const name of EVENT_NAMES) {
      const pages = new Map<number, IpcSender>();
      this.#subscribers.set(name, pages);
      this.#unsubscribe.push(
        control.subscribe(name, (payload) => {
          for (const [id, page] of pages) {
            if (page.isDestroyed()) pages.delete(id);
            else page.send(IPC_EVENT, name, payload);
          }
        }),
      );
    }
  }

  /** The pages subscribed to `event` (by webContents id). */
  subscribers(event: EventName): number[] {
    return [...(this.#subscribers.get(event)?.keys() ?? [])];
  }

  /** Removes every handler and subscription. */
  dispose(): void {
    for (const channel of this.#channels.splice(0)) this.#ipcMain.removeHandler(channel);
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#subscribers.clear();
  }
}

function unknownEvent(value: unknown): ControlResult<never> {
  return {
    ok: false,
    code: 'unknown-call',
    message: `There is no event ${JSON.stringify(value)}: use one of ${EVENT_NAMES.join(', ')}.`,
  };
}
