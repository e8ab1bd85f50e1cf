// The preload of the app's window: `window.gateway`, the control contract as named functions
// (`gateway.servers.list()`, `gateway.subscribe('servers', fn)` → unsubscribe), built from the contract so
// it cannot drift from it. Nothing else is exposed: no ipcRenderer, no Electron event object (listeners get
// the payload only). It runs sandboxed, so scripts/build-preload.mjs bundles it into one CommonJS file
// whose only `require` is `electron`.
import { contextBridge, ipcRenderer } from 'electron';

import { buildGatewayApi, type EventName } from '../src-shared/control.js';

const IPC_SUBSCRIBE = 'control:subscribe';
const IPC_UNSUBSCRIBE = 'control:unsubscribe';
const IPC_EVENT = 'control:event';

const listeners = new Map<EventName, Set<(payload: unknown) => void>>();

ipcRenderer.on(IPC_EVENT, (_event, name: EventName, payload: unknown) => {
  for (const listener of listeners.get(name) ?? []) listener(payload);
});

function subscribe(event: EventName, listener: (payload: unknown) => void): () => void {
  let set = listeners.get(event);
  if (!set) {
    listeners.set(event, (set = new Set()));
    void ipcRenderer.invoke(IPC_SUBSCRIBE, event);
  }
  // Wrapped, so that the same function subscribed twice gets two independent subscriptions.
  const entry = (payload: unknown) => listener(payload);
  set.add(entry);
  return () => {
    set.delete(entry);
    if (set.size === 0 && listeners.get(event) === set) {
      listeners.delete(event);
      void ipcRenderer.invoke(IPC_UNSUBSCRIBE, event);
    }
  };
}

contextBridge.exposeInMainWorld(
  'gateway',
  buildGatewayApi((name, args) => ipcRenderer.invoke(name, args), subscribe),
);
