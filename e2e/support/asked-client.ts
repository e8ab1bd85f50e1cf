// An SDK client (2025 era) that answers a server's requests: elicitation (as `answer` says), sampling and
// roots, and records what it was asked.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

/** An SDK client that declares elicitation, sampling and roots; `answer` decides how it answers elicitation. */
export async function askedClient(
  url: URL,
  answer: (question: string) => Promise<string>,
  headers: Record<string, string> = {},
  transport: 'streamable-http' | 'sse' = 'streamable-http',
): Promise<{ client: Client; asked: string[] }> {
  const asked: string[] = [];
  const client = new Client(
    { name: 'asked-client', version: '1.0.0' },
    { capabilities: { elicitation: {}, sampling: {}, roots: {} } },
  );
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    asked.push(request.params.message);
    return { action: 'accept', content: { answer: await answer(request.params.message) } };
  });
  client.setRequestHandler(CreateMessageRequestSchema, (request) => {
    const first = request.params.messages[0]?.content;
    asked.push(`sampling: ${first && 'text' in first ? String(first.text) : ''}`);
    return {
      role: 'assistant',
      model: 'test-model',
      content: { type: 'text', text: `a poem about ${first && 'text' in first ? String(first.text) : ''}` },
    };
  });
  client.setRequestHandler(ListRootsRequestSchema, () => {
    asked.push('roots');
    return { roots: [{ uri: 'file:///home/alice/project', name: 'project' }] };
  });
  await client.connect(
    transport === 'sse'
      ? new SSEClientTransport(url, { requestInit: { headers } })
      : new StreamableHTTPClientTransport(url, { requestInit: { headers } }),
  );
  return { client, asked };
}
