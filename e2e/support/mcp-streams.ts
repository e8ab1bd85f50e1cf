// MCP streams opened with raw HTTP for tests of their lifetime (stream-revocation, client-access-review): a
// 2025-11-25 session's GET stream, a 2026-07-28 subscriptions/listen stream, a slow call answered as SSE, all on
// the "slow" server (./slow-server.mjs) of a subject, read as they arrive.
import { expect } from 'vitest';

import type { RelayServer } from '../../src-relay/relay-server.js';
import type { AgentFixture } from './relay-fixture.js';
import { until } from './wait.js';

/** How long a revoked stream may take to end: the revocation is synchronous here, so this is generous. */
export const BOUND_MS = 5000;

/** An open SSE response, read as it arrives; `closed` once it ended or broke. */
export class OpenStream {
  text = '';
  closed = false;
  /** performance.now() when it ended. */
  closedAt: number | undefined;
  constructor(readonly response: Response) {
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    this.close = () => void reader.cancel().catch(() => undefined);
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.text += value;
        }
      } catch {
        // ignore: a stream the relay destroyed breaks off ("terminated"); either way it is over
      } finally {
        this.closed = true;
        this.closedAt = performance.now();
      }
    })();
  }
  /** Stops reading: the client goes away. */
  readonly close: () => void;
  has(fragment: string): Promise<void> {
    return until(() => this.text.includes(fragment), BOUND_MS, `"${fragment}" on the stream`);
  }
}

/** The MCP endpoint of `server` (the "slow" fixture unless named) of `subject` on `relay`. */
export const mcpUrl = (relay: RelayServer, subject: string, server = 'slow') =>
  new URL(`/${subject}/${server}/mcp`, relay.url);

export function post2025(
  relay: RelayServer,
  subject: string,
  token: string,
  body: object,
  extra: Record<string, string> = {},
) {
  return fetch(mcpUrl(relay, subject), {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...extra,
    },
    body: JSON.stringify({ jsonrpc: '2.0', ...body }),
  });
}

export const initialize = (relay: RelayServer, subject: string, token: string) =>
  post2025(relay, subject, token, {
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'revoked', version: '1' },
    },
  });

/** A 2025-11-25 session with `token`, and its standalone GET stream (primed). */
export async function getStream(relay: RelayServer, subject: string, token: string) {
  const init = await initialize(relay, subject, token);
  expect(init.status).toBe(200);
  await init.text();
  const session = init.headers.get('mcp-session-id')!;
  const headers = { 'Mcp-Session-Id': session, 'MCP-Protocol-Version': '2025-11-25' };
  const initialized = await post2025(relay, subject, token, { method: 'notifications/initialized' }, headers);
  expect(initialized.status).toBe(202);
  const response = await fetch(mcpUrl(relay, subject), {
    headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream', ...headers },
  });
  expect(response.status).toBe(200);
  const stream = new OpenStream(response);
  await stream.has('id: ');
  return { stream, headers };
}

/** A 2026-07-28 subscriptions/listen stream for tool list changes of `server`, acknowledged. */
export async function listenStream(relay: RelayServer, subject: string, token: string, server = 'slow') {
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  const response = await fetch(mcpUrl(relay, subject, server), {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': 'subscriptions/listen',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'subscriptions/listen',
      params: { notifications: { toolsListChanged: true }, _meta: meta },
    }),
  });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const stream = new OpenStream(response);
  await stream.has('notifications/subscriptions/acknowledged');
  return stream;
}

/** A slow tools/call in flight, its answer an SSE stream (the 2025 era's POST-as-SSE), started at the server. */
export async function callInFlight(
  relay: RelayServer,
  agent: AgentFixture,
  subject: string,
  token: string,
  headers: Record<string, string>,
  label: string,
) {
  const response = await post2025(
    relay,
    subject,
    token,
    { id: 7, method: 'tools/call', params: { name: 'wait', arguments: { ms: 30_000, label } } },
    { ...headers, Accept: 'text/event-stream' },
  );
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const stream = new OpenStream(response);
  await until(() => logged(agent, `started: ${label}`), BOUND_MS, 'the call to start at the server');
  return stream;
}

export const logged = (agent: AgentFixture, text: string) =>
  agent.logs.recent().some((entry) => entry.message.includes(text));

/** Calls the slow server's `announce` (a tools/list_changed to every client of it) with `token`. */
export async function announce(relay: RelayServer, subject: string, token: string) {
  const response = await post2025(relay, subject, token, {
    id: 2,
    method: 'tools/call',
    params: { name: 'announce', arguments: {} },
  });
  expect(response.status).toBe(200);
  await response.text();
}

export const closedWithin = (streams: OpenStream[], what: string) =>
  until(() => streams.every((s) => s.closed), BOUND_MS, what);
