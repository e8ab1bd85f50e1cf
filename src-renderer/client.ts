// The one interface the page talks to the gateway through: the contract's `GatewayApi`
// (src-shared/control.ts) — `gateway.servers.list()`, `gateway.subscribe('servers', fn)` … Two
// implementations: `window.gateway`, exposed by the Electron preload, and the web host's WebSocket client
// below. Only types come from the contract: the page's bundle carries no zod.
import type {
  CallName,
  ControlResult,
  EventName,
  EventPayload,
  GatewayApi,
  HostMessage,
  HostRequest,
} from '../src-shared/control.js';
import {
  CONTROL_PATH,
  CONTROL_PROTOCOL,
  TOKEN_FRAGMENT_KEY,
  TOKEN_PROTOCOL_PREFIX,
} from '../src-shared/control-host.js';

/** What every view receives: the contract as named functions. */
export type ControlClient = GatewayApi;

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a plain browser. */
    readonly gateway?: GatewayApi;
  }
}

/** Where the page's link to the gateway stands (the web host's socket; Electron's IPC is always up). */
export type ChannelState = 'open' | 'connecting' | 'closed';

export interface Channel {
  client: ControlClient;
  /** Calls `listener` on every change of the channel; returns the unsubscribe function. */
  onState(listener: (state: ChannelState, reason?: string) => void): () => void;
}

/** The Electron preload's `window.gateway` when present, else the web host's WebSocket. */
export function openChannel(): Channel {
  if (window.gateway) {
    // IPC is up as long as the page is: the channel is open at once, and stays so.
    const client = window.gateway;
    return {
      client,
      onState: (listener) => {
        listener('open');
        return () => undefined;
      },
    };
  }
  return openWebHostChannel();
}

const SESSION_KEY = 'mcpassistant-control-token';

/** The per-run token: from the URL fragment on first load (then removed from the address bar), else the tab's session. */
function takeToken(): string | undefined {
  const fragment = new URLSearchParams(location.hash.slice(1)).get(TOKEN_FRAGMENT_KEY);
  if (fragment) {
    sessionStorage.setItem(SESSION_KEY, fragment);
    history.replaceState(null, '', location.pathname);
    return fragment;
  }
  return sessionStorage.getItem(SESSION_KEY) ?? undefined;
}

/**
 * The web host's client: calls and subscriptions over one WebSocket to this page's own host, reconnecting
 * (with subscriptions restored) when the socket drops. Calls made while it is down answer an error value.
 */
export function openWebHostChannel(): Channel {
  const token = takeToken();
  const pending = new Map<number, (result: ControlResult<unknown>) => void>();
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>();
  const stateListeners = new Set<(state: ChannelState, reason?: string) => void>();
  let socket: WebSocket | undefined;
  let nextId = 1;
  let retryMs = 250;
  let current: [ChannelState, string | undefined] = ['connecting', undefined];

  const setState = (state: ChannelState, reason?: string) => {
    current = [state, reason];
    for (const listener of stateListeners) listener(state, reason);
  };
  const send = (request: HostRequest) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(request));
  };
  const connect = () => {
    if (!token) {
      setState(
        'closed',
        'This page needs the address the gateway printed (with #token=…). Run `mcpassistant-gateway ui` again.',
      );
      return;
    }
    setState('connecting');
    const ws = new WebSocket(`ws://${location.host}${CONTROL_PATH}`, [
      CONTROL_PROTOCOL,
      TOKEN_PROTOCOL_PREFIX + token,
    ]);
    socket = ws;
    ws.onopen = () => {
      retryMs = 250;
      for (const event of listeners.keys()) send({ type: 'subscribe', event });
      setState('open');
    };
    ws.onmessage = (message) => {
      const data = JSON.parse(String(message.data)) as HostMessage;
      if (data.type === 'result') {
        pending.get(data.id)?.(data.result);
        pending.delete(data.id);
      } else {
        for (const listener of listeners.get(data.event) ?? []) listener(data.payload);
      }
    };
    ws.onclose = () => {
      for (const resolve of pending.values()) {
        resolve({
          ok: false,
          code: 'internal',
          message: 'The connection to the gateway closed. Is it still running?',
        });
      }
      pending.clear();
      setState(
        'connecting',
        'The gateway does not answer; retrying. Is `mcpassistant-gateway ui` still running?',
      );
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
  };

  const call = (name: CallName, args: unknown): Promise<ControlResult<unknown>> =>
    new Promise((resolve) => {
      if (socket?.readyState !== WebSocket.OPEN) {
        resolve({
          ok: false,
          code: 'internal',
          message: 'Not connected to the gateway yet; try again in a moment.',
        });
        return;
      }
      const id = nextId++;
      pending.set(id, resolve);
      send({ type: 'call', id, name, args });
    });

  const subscribe = <E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void) => {
    let set = listeners.get(event);
    if (!set) {
      listeners.set(event, (set = new Set()));
      send({ type: 'subscribe', event });
    }
    const wrapped = listener as (payload: unknown) => void;
    set.add(wrapped);
    return () => {
      set.delete(wrapped);
      if (set.size === 0) {
        listeners.delete(event);
        send({ type: 'unsubscribe', event });
      }
    };
  };

  // `client.servers.list(args)` → call('servers:list', args): the names come from the GatewayApi type.
  const domains = new Map<string, object>();
  const client = new Proxy({} as ControlClient, {
    get: (_, domain) => {
      if (domain === 'subscribe') return subscribe;
      if (typeof domain !== 'string') return undefined;
      let actions = domains.get(domain);
      if (!actions) {
        actions = new Proxy(
          {},
          {
            get: (__, action) => (args?: unknown) =>
              call(`${domain}:${String(action)}` as CallName, args ?? {}),
          },
        );
        domains.set(domain, actions);
      }
      return actions;
    },
  });

  connect();
  return {
    client,
    onState: (listener) => {
      stateListeners.add(listener);
      listener(...current);
      return () => void stateListeners.delete(listener);
    },
  };
}
