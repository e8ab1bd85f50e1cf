// The official MCP conformance suite (server scenarios) against our conformance fixture, directly and through
// the relay (the fixture as an HTTP `url` entry of a real gateway agent), in the same run. The suite runs on its
// own Node 22 from a scratch folder (scripts/conformance.mjs). The counts of every run go to
// bench/results/conformance.json and to the test's output.
//
// Both revisions are asserted in full, in the same run: nothing fails (or goes unreached) through the relay that
// passes directly, and at least as many checks pass. The fixture serves both
// eras (conformance-server.ts); the agent keeps a 2025 session with it for 2025 callers and reaches it in the
// 2026-07-28 era for the relay's modern front's calls (managed-server.ts, #connectModern), so its own
// input-required results, keys included, reach 2026-07-28 clients.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Json } from '../src-relay/http-util.js';
import type { RelayServer } from '../src-relay/relay-server.js';
import { failing, lost, type Revision, runConformance, scored } from './support/conformance.js';
import { startConformanceServer } from './support/conformance-server.js';
import type { HttpFixture } from './support/mcp-fixtures.js';
import { type AgentFixture, linkState, startAgent, startRelay } from './support/relay-fixture.js';

const WATCHED = 'test://watched-resource';

/** One 2026-07-28 request to `url`: the `_meta` envelope (no client capabilities but `capabilities`) and headers. */
const post2026 = (url: string, method: string, params: Json, signal?: AbortSignal, capabilities: Json = {}) =>
  fetch(url, {
    method: 'POST',
    signal,
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': method,
      ...(typeof params['name'] === 'string' ? { 'Mcp-Name': params['name'] } : {}),
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: randomUUID(),
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': capabilities,
          'io.modelcontextprotocol/clientInfo': { name: 'conformance-test', version: '1.0.0' },
        },
      },
    }),
  });

/**
 * A resource subscription on a 2026-07-28 listen stream (no suite scenario calls it): opens
 * `subscriptions/listen` on `url` for the fixture's watched resource, has the fixture update it (its own
 * test_trigger_resource_update tool), and resolves with the stream's first two messages, then closes it.
 */
async function resourceUpdateOnListen(url: string): Promise<{ ack: Json; updated: Json }> {
  const stream = new AbortController();
  try {
    const listen = await post2026(
      url,
      'subscriptions/listen',
      { notifications: { resourceSubscriptions: [WATCHED] } },
      stream.signal,
    );
    expect(listen.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = listen.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    const next = async (): Promise<Json> => {
      for (;;) {
        const end = buffered.indexOf('\n\n');
        if (end >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = event
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trim())
            .join('\n');
          if (data) return JSON.parse(data) as Json;
          continue; // a comment (keep-alive) or a priming event
        }
        const { done, value } = await reader.read();
        if (done) throw new Error(`the listen stream on ${url} ended before a message`);
        buffered += value;
      }
    };
    const ack = await next();
    // The server agreed to the subscription (else no update would come: fail now rather than wait).
    expect(ack).toMatchObject({
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: { resourceSubscriptions: [WATCHED] } },
    });
    const trigger = await post2026(url, 'tools/call', {
      name: 'test_trigger_resource_update',
      arguments: {},
    });
    expect(trigger.status).toBe(200);
    return { ack, updated: await next() };
  } finally {
    stream.abort();
  }
}

const results: Record<string, { passed: number; failed: number; failing: string[] }> = {};

describe('the MCP conformance suite', () => {
  let fixture: HttpFixture;
  let relay: RelayServer;
  let agent: AgentFixture;

  beforeAll(async () => {
    fixture = await startConformanceServer();
    // The suite sends no bearer; it checks MCP behaviour, not our sign-in.
    relay = await startRelay({ allowUnauthMcp: true, requestTimeoutMs: 30_000 });
    agent = await startAgent(relay, { servers: { conformance: { url: fixture.url } } });
    await linkState(agent.gateway, 'connected');
  });

  afterAll(async () => {
    await agent?.close();
    await relay?.close();
    await fixture?.close();
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/conformance.json', `${JSON.stringify(results, null, 2)}\n`);
  });

  const run = async (revision: Revision) => {
    const direct = await runConformance(fixture.url, revision);
    const relayed = await runConformance(new URL('/alice/conformance/mcp', relay.url).href, revision);
    for (const [where, one] of [
      ['direct', direct],
      ['relay', relayed],
    ] as const) {
      results[`${revision} ${where}`] = {
        passed: one.passed,
        failed: one.failed,
        failing: failing(one),
      };
    }
    console.log(
      `conformance ${revision}: direct ${direct.passed} passed, ${direct.failed} failed; ` +
        `through the relay ${relayed.passed} passed, ${relayed.failed} failed; ` +
        `\n  failing directly: ${failing(direct).join(', ') || 'none'}` +
        `\n  failing through the relay: ${failing(relayed).join(', ') || 'none'}`,
    );
    return { direct, relayed };
  };

  for (const [revision, floor] of [
    ['2025-11-25', 60],
    ['2026-07-28', 120],
  ] as const) {
    it(
      `${revision}: nothing fails through the relay that passes directly, and as many checks pass`,
      { timeout: 600_000 },
      async () => {
        const { direct, relayed } = await run(revision);
        // A fixture that fails scored checks, or passes few, would make the comparison say little.
        expect(failing(direct).filter(scored)).toEqual([]);
        expect(direct.passed).toBeGreaterThan(floor);
        expect(lost(direct, relayed)).toEqual([]);
        expect(relayed.passed).toBeGreaterThanOrEqual(direct.passed);
      },
    );
  }
  it('2026-07-28: a listen stream subscribed to a resource gets its updates, directly and through the relay', async () => {
    for (const url of [fixture.url, new URL('/alice/conformance/mcp', relay.url).href]) {
      const { ack, updated } = await resourceUpdateOnListen(url);
      const id = (ack['params'] as { _meta: Json })._meta['io.modelcontextprotocol/subscriptionId'];
      expect(typeof id).toBe('string');
      expect(updated).toMatchObject({
        method: 'notifications/resources/updated',
        params: { uri: WATCHED, _meta: { 'io.modelcontextprotocol/subscriptionId': id } },
      });
    }
  });
  it('2026-07-28: a question that differs in every run is still answered on the retry, directly and through the relay', async () => {
    const call = async (url: string, extra: Json) => {
      const params = { name: 'test_input_required_result_changing_question', arguments: {}, ...extra };
      const response = await post2026(url, 'tools/call', params, undefined, { elicitation: {} });
      expect(response.status).toBe(200);
      return ((await response.json()) as { result: Json })['result'];
    };
    for (const url of [fixture.url, new URL('/alice/conformance/mcp', relay.url).href]) {
      const first = (await call(url, {})) as {
        resultType: string;
        inputRequests: Json;
        requestState?: string;
      };
      expect(first.resultType).toBe('input_required');
      const [key] = Object.keys(first.inputRequests);
      const retry = await call(url, {
        inputResponses: { [key!]: { action: 'accept', content: { ok: true } } },
        ...(first.requestState === undefined ? {} : { requestState: first.requestState }),
      });
      expect(retry).toMatchObject({
        resultType: 'complete',
        content: [{ type: 'text', text: 'confirmed: true' }],
      });
    }
  });
  it('2026-07-28: a client that never retries leaves nothing waiting: the next call still gets its question', async () => {
    for (const url of [fixture.url, new URL('/alice/conformance/mcp', relay.url).href]) {
      const ask = async (name: string) => {
        const response = await post2026(url, 'tools/call', { name, arguments: {} }, undefined, {
          elicitation: {},
          sampling: {},
        });
        return ((await response.json()) as { result?: { resultType?: string; inputRequests?: Json } }).result;
      };
      // Abandoned after the first round, twice (an agent asked by two calls at once could not tell which).
      for (const name of [
        'test_input_required_result_elicitation',
        'test_input_required_result_request_state',
      ])
        expect((await ask(name))?.resultType).toBe('input_required');
      const next = await ask('test_input_required_result_sampling');
      expect(next?.resultType).toBe('input_required');
      expect(Object.values(next?.inputRequests ?? {})).toMatchObject([{ method: 'sampling/createMessage' }]);
    }
  });
});
