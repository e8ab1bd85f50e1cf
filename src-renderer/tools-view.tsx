// The tools of each running server, and "Try it": a form generated from the tool's input schema (or raw
// JSON), the result as the server sent it, its error, and the progress it reports while it runs.
import { useEffect, useState } from 'preact/hooks';

import type { ServerInfo, ToolCallResult, ToolInfo, ToolProgress } from '../src-shared/control.js';
import type { Channel } from './client.js';

interface PropSchema {
  type?: string | string[];
  description?: string;
  enum?: unknown[];
  default?: unknown;
}

const typeOf = (p: PropSchema) => (Array.isArray(p.type) ? p.type[0] : p.type);

export function ToolsView(props: { channel: Channel; servers: ServerInfo[] }) {
  const { client } = props.channel;
  const running = props.servers.filter((s) => s.state === 'running');
  const [server, setServer] = useState<string>();
  const [tools, setTools] = useState<ToolInfo[]>();
  const [error, setError] = useState<string>();
  const [tool, setTool] = useState<ToolInfo>();
  const chosen = server ?? running[0]?.name;

  useEffect(() => {
    setTools(undefined);
    setTool(undefined);
    if (!chosen) return;
    void client.servers.tools({ name: chosen }).then((r) => {
      setTools(r.ok ? r.value : []);
      setError(r.ok ? undefined : r.message);
    });
  }, [client, chosen]);

  return (
    <section aria-labelledby="tools-title" class="card">
      <div class="bar">
        <h2 id="tools-title">Tools</h2>
        <span class="spacer" />
        <label for="tools-server">Server</label>
        <select id="tools-server" value={chosen ?? ''} onChange={(e) => setServer(e.currentTarget.value)}>
          {running.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
            </option>
          ))}
        </select>
      </div>
      {!chosen && <p class="muted">No server is running.</p>}
      {error && <p class="error-text">{error}</p>}
      {tool && chosen ? (
        <TryIt channel={props.channel} server={chosen} tool={tool} onBack={() => setTool(undefined)} />
      ) : (
        <ul class="tools">
          {tools?.map((t) => (
            <li key={t.name} data-tool={t.name}>
              <div class="bar">
                <strong>{t.title ?? t.name}</strong>
                {t.title && <code>{t.name}</code>}
                <span class="spacer" />
                <button
                  type="button"
                  class="small"
                  aria-label={`Try it: ${t.name}`}
                  onClick={() => setTool(t)}
                >
                  Try it
                </button>
              </div>
              {t.description && <p class="muted">{t.description}</p>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

let callSeq = 0;

function TryIt(props: { channel: Channel; server: string; tool: ToolInfo; onBack: () => void }) {
  const { client } = props.channel;
  const { tool } = props;
  const properties = (tool.inputSchema['properties'] ?? {}) as Record<string, PropSchema>;
  const required = new Set((tool.inputSchema['required'] ?? []) as string[]);
  const [values, setValues] = useState<Record<string, string | boolean>>({});
  const [raw, setRaw] = useState(false);
  const [json, setJson] = useState('{}');
  const [running, setRunning] = useState(false);
  const [progress, setProgress] = useState<ToolProgress>();
  const [result, setResult] = useState<ToolCallResult>();
  const [error, setError] = useState<string>();

  const argsFromForm = (): Record<string, unknown> => {
    const args: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(properties)) {
      const value = values[key];
      if (value === undefined || value === '') continue;
      const type = typeOf(schema);
      if (type === 'number' || type === 'integer') args[key] = Number(value);
      else if (type === 'boolean') args[key] = value === true;
      else if (type === 'object' || type === 'array') args[key] = JSON.parse(String(value));
      else args[key] = value;
    }
    return args;
  };

  const run = async (event: Event) => {
    event.preventDefault();
    let args: Record<string, unknown>;
    try {
      args = raw ? (JSON.parse(json) as Record<string, unknown>) : argsFromForm();
      if (!args || typeof args !== 'object' || Array.isArray(args)) throw new Error('expected a JSON object');
    } catch (e) {
      setError(`The arguments are not valid JSON: ${(e as Error).message}. Fix them and try again.`);
      return;
    }
    const callId = `try-${++callSeq}`;
    setRunning(true);
    setError(undefined);
    setResult(undefined);
    setProgress(undefined);
    const off = client.subscribe('progress', (p) => p.callId === callId && setProgress(p));
    const r = await client.tools.call({ server: props.server, tool: tool.name, arguments: args, callId });
    off();
    setRunning(false);
    if (r.ok) setResult(r.value);
    else setError(r.message);
  };

  return (
    <form class="try" onSubmit={(e) => void run(e)} aria-labelledby="try-title">
      <div class="bar">
        <h3 id="try-title">
          Try <code>{tool.name}</code>
        </h3>
        <span class="spacer" />
        <button type="button" class="small" onClick={props.onBack}>
          Back to the tools
        </button>
      </div>
      {tool.description && <p class="muted">{tool.description}</p>}
      <label class="check">
        <input type="checkbox" checked={raw} onChange={(e) => setRaw(e.currentTarget.checked)} /> Raw JSON
      </label>
      {raw ? (
        <>
          <label for="try-json">Arguments (JSON)</label>
          <textarea id="try-json" rows={6} value={json} onInput={(e) => setJson(e.currentTarget.value)} />
        </>
      ) : (
        Object.entries(properties).map(([key, schema]) => {
          const id = `arg-${key}`;
          const type = typeOf(schema);
          const label = `${key}${required.has(key) ? ' (required)' : ''}`;
          const set = (v: string | boolean) => setValues((all) => ({ ...all, [key]: v }));
          if (type === 'boolean') {
            return (
              <label class="check" key={key}>
                <input
                  type="checkbox"
                  checked={values[key] === true}
                  onChange={(e) => set(e.currentTarget.checked)}
                />{' '}
                {label}
              </label>
            );
          }
          return (
            <div key={key} class="arg">
              <label for={id}>{label}</label>
              {schema.enum ? (
                <select
                  id={id}
                  value={String(values[key] ?? '')}
                  onChange={(e) => set(e.currentTarget.value)}
                >
                  <option value="">—</option>
                  {schema.enum.map((v) => (
                    <option key={String(v)} value={String(v)}>
                      {String(v)}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  id={id}
                  type={type === 'number' || type === 'integer' ? 'number' : 'text'}
                  value={String(values[key] ?? '')}
                  placeholder={
                    schema.default === undefined ? '' : `default ${JSON.stringify(schema.default)}`
                  }
                  onInput={(e) => set(e.currentTarget.value)}
                />
              )}
              {schema.description && <span class="muted hint">{schema.description}</span>}
            </div>
          );
        })
      )}
      <div class="actions">
        <button type="submit" disabled={running}>
          {running ? 'Running…' : 'Call'}
        </button>
      </div>
      {progress && (
        <div class="progress" data-testid="progress">
          <progress
            aria-label="Progress"
            value={progress.progress}
            {...(progress.total ? { max: progress.total } : {})}
          />
          <span>
            {progress.progress}
            {progress.total ? ` of ${progress.total}` : ''}
            {progress.message ? ` — ${progress.message}` : ''}
          </span>
        </div>
      )}
      {error && (
        <p class="error-text" role="alert" data-testid="call-error">
          {error}
        </p>
      )}
      {result && (
        <div data-testid="call-result" class={result.isError ? 'error-text' : ''}>
          <p class="muted">
            {result.isError ? 'The tool reported an error' : 'Result'} in {result.durationMs} ms
          </p>
          {result.content.map((item, i) => (
            <pre class="output" key={i}>
              {item['type'] === 'text' ? String(item['text']) : JSON.stringify(item, null, 2)}
            </pre>
          ))}
          {result.structuredContent && (
            <pre class="output">{JSON.stringify(result.structuredContent, null, 2)}</pre>
          )}
        </div>
      )}
    </form>
  );
}
