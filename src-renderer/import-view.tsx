// Import: servers from pasted JSON (`mcpServers`, VS Code's `servers`, a bare map, supergateway entries) or
// from the config file of a client found on this computer. A preview marks names mcp.json already has and
// offers a new name; nothing is replaced, and text that is not understood says why.
import { useEffect, useState } from 'preact/hooks';

import type { DetectedConfig, ImportEntry } from '../src-shared/control.js';
import type { Channel } from './client.js';
import { useOpen } from './hooks.js';

export function ImportView(props: { channel: Channel; say: (text: string) => void }) {
  const { channel, say } = props;
  const { client } = channel;
  const open = useOpen(channel);
  const [text, setText] = useState('');
  const [detected, setDetected] = useState<DetectedConfig[]>([]);
  const [preview, setPreview] = useState<{ from: string; entries: ImportEntry[] }>();
  const [names, setNames] = useState<Record<string, string>>({});
  const [chosen, setChosen] = useState<Record<string, boolean>>({});
  const [error, setError] = useState<string>();

  useEffect(() => {
    if (open) void client.import.detect().then((r) => r.ok && setDetected(r.value));
  }, [client, open]);

  const show = (from: string, entries: ImportEntry[]) => {
    setError(undefined);
    setPreview({ from, entries });
    setNames(Object.fromEntries(entries.map((e) => [e.name, e.conflict ? `${e.name}-imported` : e.name])));
    setChosen(Object.fromEntries(entries.map((e) => [e.name, !e.error])));
  };
  const parse = async () => {
    const r = await client.import.parse({ text });
    if (r.ok) show('the pasted text', r.value);
    else {
      setPreview(undefined);
      setError(r.message);
    }
  };
  const apply = async () => {
    if (!preview) return;
    const entries = preview.entries
      .filter((e) => chosen[e.name])
      .map((e) => ({ name: names[e.name] ?? e.name, entry: e.entry }));
    if (entries.length === 0) return setError('Choose at least one server to import.');
    const r = await client.import.apply({ entries });
    if (!r.ok) return setError(r.message);
    say(`Imported ${r.value.added.join(', ')}.`);
    setPreview(undefined);
  };

  return (
    <>
      <section aria-labelledby="import-title" class="card">
        <h2 id="import-title">Import servers</h2>
        <label for="import-text">Paste JSON (Claude Desktop, Cursor, VS Code, Gemini CLI…)</label>
        <textarea id="import-text" rows={7} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <div class="actions">
          <button type="button" onClick={() => void parse()}>
            Preview
          </button>
        </div>
        {error && (
          <p class="field-error" role="alert" data-testid="import-error">
            {error}
          </p>
        )}
        <h3>Found on this computer</h3>
        {detected.length === 0 ? (
          <p class="muted">No client config found.</p>
        ) : (
          <ul class="tools">
            {detected.map((d) => (
              <li key={d.app} data-app={d.app}>
                <div class="bar">
                  <strong>{d.title}</strong>
                  <code>{d.path}</code>
                  <span class="spacer" />
                  <button
                    type="button"
                    class="small"
                    aria-label={`Preview ${d.title}`}
                    disabled={d.entries.length === 0}
                    onClick={() => show(d.title, d.entries)}
                  >
                    Preview
                  </button>
                </div>
                <p class="muted">
                  {d.error ?? `${d.entries.length} server${d.entries.length === 1 ? '' : 's'}`}
                </p>
              </li>
            ))}
          </ul>
        )}
      </section>
      {preview && (
        <section aria-labelledby="preview-title" class="card">
          <h2 id="preview-title">Servers in {preview.from}</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Import</th>
                <th scope="col">Name in mcp.json</th>
                <th scope="col">Runs</th>
                <th scope="col">Notes</th>
              </tr>
            </thead>
            <tbody>
              {preview.entries.map((e) => (
                <tr key={e.name} data-import={e.name}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Import ${e.name}`}
                      checked={chosen[e.name] ?? false}
                      disabled={e.error !== undefined}
                      onChange={(ev) => setChosen((c) => ({ ...c, [e.name]: ev.currentTarget.checked }))}
                    />
                  </td>
                  <td>
                    <input
                      aria-label={`Name for ${e.name}`}
                      value={names[e.name] ?? e.name}
                      onInput={(ev) => {
                        const value = ev.currentTarget.value;
                        setNames((n) => ({ ...n, [e.name]: value }));
                      }}
                    />
                    {e.conflict && (
                      <div class="badge warn" data-testid="conflict">
                        "{e.name}" exists: renamed
                      </div>
                    )}
                  </td>
                  <td>
                    <code>
                      {typeof e.entry['url'] === 'string'
                        ? e.entry['url']
                        : [e.entry['command'], ...((e.entry['args'] as string[] | undefined) ?? [])].join(
                            ' ',
                          )}
                    </code>
                  </td>
                  <td>
                    {e.error && <span class="error-text">{e.error}</span>}
                    {e.note && <span class="muted">{e.note}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="actions">
            <button type="button" onClick={() => void apply()}>
              Import selected
            </button>
          </div>
        </section>
      )}
    </>
  );
}
