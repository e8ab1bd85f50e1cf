// The agent speaks to each local server in that server's own era (issue 11): a 2025-era server (SDK v1, stdio)
// and a 2026-07-28-only server (SDK v2, over stdio and over Streamable HTTP) behind one real relay and agent,
// reached by an SDK v1 remote client (2025 era) and an SDK v2 remote client pinned to 2026-07-28. Plain
// tools/list and tools/call work in every combination; a modern server's input_required reaches a legacy
// client as an elicitation request and a modern client as input-required, and the answer reaches the server;
// progress and list changes reach their callers; the era is learned once per server and kept across a restart.
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RelayServer } from '../src-relay/relay-server.js';
import { askedClient } from './support/asked-client.js';
import { type HttpFixture, modernServer, startModernHttpServer } from './support/mcp-fixtures.js';
import { callAsk } from './support/modern-ask.js';
import {
  type AgentFixture,
  askingServer,
  linkState,
  startAgent,
  startRelay,
} from './support/relay-fixture.js';
import { until, waitForStatus } from './support/wait.js';

const text = (result: object) =>
  (((result as { content?: unknown }).content ?? []) as { text?: string }[])
    .map((c) => c.text ?? '')
    .join('');

/** The local servers, their era, a tool every remote client can call plainly, and what it answers. */
const LOCAL = {
  legacy: { era: 'legacy', tool: 'last_outcome', args: {}, answer: /^nothing asked yet$|: / },
  modern: { era: 'modern', tool: 'echo', args: { message: 'hi' }, answer: /^modern: hi$/ },
  'modern-http': { era: 'modern', tool: 'echo', args: { message: 'hi' }, answer: /^modern: hi$/ },
  // Both eras over HTTP: the agent's session is a 2025 one, and 2026-07-28 callers are served in their era.
  'both-http': { era: 'legacy', tool: 'echo', args: { message: 'hi' }, answer: /^modern: hi$/ },
} as const;
type Local = keyof typeof LOCAL;

describe('the agent speaks to each local server in its own era', () => {
  let relay: RelayServer;
  let agent: AgentFixture;
  let modernHttp: HttpFixture & { stderr(): string };
  let bothHttp: HttpFixture;
  let headers: Record<string, string>;
  const starts = join(tmpdir(), `modern-starts-${process.pid}-${Date.now()}`);
  const closers: (() => Promise<void>)[] = [];
  const url = (server: string) => new URL(`/alice/${server}/mcp`, relay.url);
  const startCount = async () => (await readFile(starts, 'utf8')).trim().split('\n').length;

  beforeAll(async () => {
    modernHttp = await startModernHttpServer();
    bothHttp = await startModernHttpServer('both');
    relay = await startRelay();
    agent = await startAgent(relay, {
      servers: {
        legacy: askingServer(),
        modern: modernServer(starts),
        'modern-http': { url: modernHttp.url },
        'both-http': { url: bothHttp.url },
      },
    });
    await linkState(agent.gateway, 'connected');
    for (const name of Object.keys(LOCAL)) {
      await waitForStatus(agent.gateway.servers, name, (s) => s.state === 'running');
    }
    headers = { Authorization: `Bearer ${agent.token}` };
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await agent?.close();
    await relay?.close();
    await modernHttp?.close();
    await bothHttp?.close();
  });

  const connect = {
    async legacy(server: string) {
      const client = new ClientV1({ name: 'v1-remote', version: '1.0.0' });
      await client.connect(new TransportV1(url(server), { requestInit: { headers } }));
      closers.push(() => client.close());
      return client;
    },
    async modern(server: string, capabilities: Record<string, object> = {}) {
      const client = new Client(
        { name: 'v2-remote', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } }, capabilities },
      );
      await client.connect(new StreamableHTTPClientTransport(url(server), { requestInit: { headers } }));
      closers.push(() => client.close());
      expect(client.getProtocolEra()).toBe('modern');
      return client;
    },
  };

  it("reports each server's era, learned once", async () => {
    const era = (name: string) => agent.gateway.servers.get(name)?.status.era;
    expect({
      legacy: era('legacy'),
      modern: era('modern'),
      'modern-http': era('modern-http'),
      'both-http': era('both-http'),
    }).toEqual({
      legacy: 'legacy',
      modern: 'modern',
      'modern-http': 'modern',
      'both-http': 'legacy',
    });
    // The server of both eras was asked once whether it speaks 2026-07-28 too, after its initialize.
    expect(agent.logs.recent().filter((e) => e.message.includes('also speaks 2026-07-28'))).toHaveLength(1);
    // A first start tries initialize (the 2025 era, no probe); the 2026-only server refused it, so the stdio
    // probe ran on one sibling process, then the server itself started once: three processes.
    expect(await startCount()).toBe(3);
  });

  for (const remote of ['legacy', 'modern'] as const) {
    for (const local of Object.keys(LOCAL) as Local[]) {
      it(`a ${remote} remote client lists and calls tools of the ${local} local server`, async () => {
        const { tool, args, answer } = LOCAL[local];
        const client = await connect[remote](local);
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name)).toContain(tool);
        expect(text(await client.callTool({ name: tool, arguments: args }))).toMatch(answer);
      });
    }
  }

  for (const local of ['modern', 'modern-http', 'both-http'] as const) {
    it(`the ${local} server's input_required reaches an SDK v1 client as an elicitation request, and the answer reaches the server`, async () => {
      const { client, asked } = await askedClient(
        url(local),
        (question) => Promise.resolve(`yes to ${question}`),
        headers,
      );
      closers.push(() => client.close());
      const result = await client.callTool({ name: 'ask', arguments: { question: 'Deploy now?' } });
      expect(text(result)).toBe('answered: yes to Deploy now?');
      expect(asked).toEqual(['Deploy now?']);
    });

    it(`the ${local} server's input_required reaches a 2026-07-28 client as input-required under the server's own key, and the answer reaches the server`, async () => {
      // On the wire first: the remote client's call is answered input_required, naming an elicitation under
      // the key the server gave it (here "constructor", an Object.prototype name, modern-server.mjs), and the
      // retry answering that key completes it; a stray `__proto__` answer changes nothing.
      const post = (params: Record<string, unknown>) =>
        callAsk(url(local), headers, { question: 'raw?', key: 'constructor' }, params);
      const first = (await (await post({})).json()) as {
        result: {
          resultType: string;
          inputRequests: Record<string, { method: string; params: unknown }>;
          requestState: string;
        };
      };
      expect(first.result.resultType).toBe('input_required');
      expect(Object.keys(first.result.inputRequests)).toEqual(['constructor']);
      const embedded = Object.values(first.result.inputRequests);
      expect(embedded.map((request) => request.method)).toEqual(['elicitation/create']);
      expect(embedded[0]?.params).toMatchObject({ message: 'raw?' });
      const retry = (await (
        await post({
          inputResponses: JSON.parse(
            '{"__proto__": {"constructor": {"action": "decline"}},' +
              '"constructor": {"action": "accept", "content": {"answer": "raw yes"}}}',
          ) as Record<string, unknown>,
          requestState: first.result.requestState,
        })
      ).json()) as { result: { resultType: string } };
      expect(retry.result.resultType).toBe('complete');
      expect(text(retry.result)).toBe('answered: raw yes');
      // Then an SDK v2 client, which answers input-required through its elicitation handler.
      const client = await connect.modern(local, { elicitation: {} });
      const asked: string[] = [];
      client.setRequestHandler('elicitation/create', (request) => {
        const message = 'message' in request.params ? request.params.message : '';
        asked.push(message);
        return { action: 'accept', content: { answer: `modern yes to ${message}` } };
      });
      const result = await client.callTool({ name: 'ask', arguments: { question: 'Ship it?' } });
      expect(text(result)).toBe('answered: modern yes to Ship it?');
      expect(asked).toEqual(['Ship it?']);
    });
  }

  it("a caller that cannot be asked gets the reason as the call's error, never a half-done result", async () => {
    // A 2025 client that reads a plain JSON answer has no stream for questions: the relay refuses to ask it.
    const res = await fetch(url('modern'), {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'ask', arguments: { question: 'anyone?' } },
      }),
    });
    const answer = (await res.json()) as { result?: unknown; error?: { message: string } };
    expect(answer.result).toBeUndefined();
    expect(answer.error?.message).toMatch(/cannot be asked elicitation\/create/);
  });

  it('a declined question reaches the modern server as declined', async () => {
    const client = await connect.modern('modern', { elicitation: {} });
    client.setRequestHandler('elicitation/create', () => ({ action: 'decline' }));
    expect(text(await client.callTool({ name: 'ask', arguments: { question: 'Really?' } }))).toBe('decline');
  });

  it("a modern server's progress reaches a 2025 caller under the caller's own token", async () => {
    const client = await connect.legacy('modern');
    const progress: number[] = [];
    const result = await client.callTool({ name: 'count', arguments: { to: 3 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(text(result)).toBe('counted to 3');
    // The SDK v1 client may drop the last step (it removes its handler as the response arrives).
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.slice(0, 2)).toEqual([1, 2]);
  });

  it("a modern server's progress reaches a 2026-07-28 caller on its call's stream", async () => {
    const client = await connect.modern('modern-http');
    const progress: number[] = [];
    const result = await client.callTool(
      { name: 'count', arguments: { to: 3 } },
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(text(result)).toBe('counted to 3');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.slice(0, 2)).toEqual([1, 2]);
  });

  it('with two calls to a modern server in flight, each question goes to its own caller', async () => {
    // Unlike a 2025 server's requests (refused with several calls in flight), input_required names its call.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const one = await askedClient(url('modern'), async (q) => (await held, `one: ${q}`), headers);
    const two = await askedClient(url('modern'), (q) => Promise.resolve(`two: ${q}`), headers);
    closers.push(
      () => one.client.close(),
      () => two.client.close(),
    );
    const first = one.client.callTool({ name: 'ask', arguments: { question: 'first' } });
    await expect.poll(() => one.asked).toEqual(['first']);
    expect(text(await two.client.callTool({ name: 'ask', arguments: { question: 'second' } }))).toBe(
      'answered: two: second',
    );
    release();
    expect(text(await first)).toBe('answered: one: first');
    expect([one.asked, two.asked]).toEqual([['first'], ['second']]);
  });

  it("a modern server's list change reaches a 2025 client, and the agent's tool count follows", async () => {
    const client = await connect.legacy('modern');
    let listChanged = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++);
    const streams = relay.openStreams();
    // The SDK client opens its GET stream after initialize; wait until the relay has it.
    await until(() => relay.openStreams() > streams, 5000, 'the GET stream');
    const tools = agent.gateway.servers.get('modern')!.status.counts!.tools;
    expect(text(await client.callTool({ name: 'grow', arguments: {} }))).toBe('grew');
    await until(() => listChanged > 0, 5000, 'the list change');
    await waitForStatus(agent.gateway.servers, 'modern', (s) => s.counts?.tools === tools + 1, 5000);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('grown');
  });

  for (const local of ['modern', 'modern-http'] as const) {
    it(`a 2026-07-28 client closing its call's stream cancels the call at the ${local} server`, async () => {
      const said = (text: string) =>
        local === 'modern'
          ? agent.logs.recent().some((e) => e.message.includes(text))
          : modernHttp.stderr().includes(text);
      const client = await connect.modern(local);
      const controller = new AbortController();
      const label = `abandoned-${local}`;
      const call = client.callTool(
        { name: 'wait', arguments: { ms: 20_000, label } },
        { signal: controller.signal },
      );
      await expect.poll(() => said(`started: ${label}`), { timeout: 10_000 }).toBe(true);
      controller.abort('the user moved on');
      await expect(call).rejects.toThrow();
      await expect.poll(() => said(`cancelled: ${label}`), { timeout: 10_000 }).toBe(true);
    });
  }

  it('keeps the era across a restart: a crashed modern server starts again with no new probe', async () => {
    const server = agent.gateway.servers.get('modern')!;
    const pid = server.processId!;
    const restarts = server.status.restarts;
    process.kill(pid, 'SIGKILL');
    await waitForStatus(
      agent.gateway.servers,
      'modern',
      (s) => s.restarts > restarts && s.state === 'running' && s.pid !== pid,
    );
    expect(server.status.era).toBe('modern');
    // One more process: the server itself, no probe sibling.
    await until(async () => (await startCount()) >= 4, 5000, 'the restarted server to start');
    expect(await startCount()).toBe(4);
    const client = await connect.modern('modern');
    expect(text(await client.callTool({ name: 'echo', arguments: { message: 'again' } }))).toBe(
      'modern: again',
    );
  });
});
