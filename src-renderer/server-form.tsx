// The form that adds or edits one mcp.json entry. Stdio: command, args as a list, env as key/value rows
// (a "secret" row is masked; saved values never come back from the gateway: they show as "unchanged" and
// are kept unless typed over), cwd; HTTP: url and headers. The command line the gateway would launch is
// looked up as the user types (`servers:resolve`, the login shell's PATH included), so "not found" is
// named before saving. Validation is the gateway's: the mcp.json schema answers, its messages go beside
// the fields they name, and nothing is written while any is left.
import { useEffect, useState } from 'preact/hooks';

import type { ResolvedCommand, ServerEntryInput } from '../src-shared/control.js';
import type { ControlClient } from './client.js';

/** What servers:get shows instead of an env or header value. */
const HIDDEN = '«hidden»';
/** The entry keys this form owns; any other key of the entry is kept as it is. */
const FORM_KEYS = ['command', 'args', 'env', 'cwd', 'url', 'headers', 'description', 'type'] as const;

interface Row {
  key: string;
  value: string;
  secret: boolean;
  /** The value is saved and was not shown: an empty field keeps it. */
  kept: boolean;
}

interface FormState {
  name: string;
  kind: 'stdio' | 'http';
  command: string;
  args: string[];
  env: Row[];
  cwd: string;
  url: string;
  headers: Row[];
  description: string;
}

const EMPTY: FormState = {
  name: '',
  kind: 'stdio',
  command: '',
  args: [],
  env: [],
  cwd: '',
  url: '',
  headers: [],
  description: '',
};

function rowsOf(map: unknown): Row[] {
  if (!map || typeof map !== 'object') return [];
  return Object.entries(map as Record<string, string>).map(([key, value]) => ({
    key,
    value: value === HIDDEN ? '' : value,
    secret: value === HIDDEN,
    kept: value === HIDDEN,
  }));
}

function stateOf(name: string, entry: Record<string, unknown>): FormState {
  const str = (key: string) => (typeof entry[key] === 'string' ? entry[key] : '');
  return {
    name,
    kind: entry['url'] !== undefined ? 'http' : 'stdio',
    command: str('command'),
    args: Array.isArray(entry['args']) ? (entry['args'] as string[]).map(String) : [],
    env: rowsOf(entry['env']),
    cwd: str('cwd'),
    url: str('url'),
    headers: rowsOf(entry['headers']),
    description: str('description'),
  };
}

function mapOf(rows: Row[]): Record<string, string> | undefined {
  const filled = rows.filter((r) => r.key.trim() !== '');
  if (filled.length === 0) return undefined;
  return Object.fromEntries(filled.map((r) => [r.key.trim(), r.kept && r.value === '' ? HIDDEN : r.value]));
}

function entryOf(form: FormState): ServerEntryInput {
  const entry: Record<string, unknown> =
    form.kind === 'stdio'
      ? {
          command: form.command,
          args: form.args.length ? form.args : undefined,
          env: mapOf(form.env),
          cwd: form.cwd.trim() || undefined,
        }
      : { url: form.url.trim(), headers: mapOf(form.headers) };
  if (form.description.trim()) entry['description'] = form.description.trim();
  return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined));
}

/**
 * The field each line of a refusal names: `…, mcpServers.<name>.<field>…: message` (the mcp.json schema)
 * or `name: message` (the call's own arguments). Lines naming no field go to `form`.
 */
export function fieldErrors(message: string): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const line of message.split('\n')) {
    const schema = /mcpServers(?:\.[\w$-]+|\["[^"]*"\])(?:\.(\w+))?[^:]*: (.+)$/.exec(line);
    if (schema) {
      errors[schema[1] ?? 'form'] ??= schema[2]!;
      continue;
    }
    const args = /invalid arguments — (.+?)\. Nothing was changed\./.exec(line);
    if (args) {
      for (const part of args[1]!.split('; ')) {
        const [path = '', ...rest] = part.split(': ');
        const field = path.startsWith('entry.') ? path.split('.')[1]! : path;
        errors[field] ??= rest.join(': ');
      }
    }
  }
  if (Object.keys(errors).length === 0 && message) errors['form'] = message;
  return errors;
}

export interface ServerFormProps {
  client: ControlClient;
  /** The server being edited, with its entry as servers:get shows it; absent when adding. */
  editing?: { name: string; entry: Record<string, unknown> };
  onDone: (message: string) => void;
  onCancel: () => void;
}

export function ServerForm({ client, editing, onDone, onCancel }: ServerFormProps) {
  const [form, setForm] = useState<FormState>(() => (editing ? stateOf(editing.name, editing.entry) : EMPTY));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [resolved, setResolved] = useState<ResolvedCommand>();
  const [saving, setSaving] = useState(false);
  const set = (patch: Partial<FormState>) => setForm((f) => ({ ...f, ...patch }));

  // The resolved command line, looked up a moment after the user stops typing.
  useEffect(() => {
    if (form.kind !== 'stdio' || form.command.trim() === '') {
      setResolved(undefined);
      return;
    }
    let current = true;
    const timer = setTimeout(() => {
      const env = mapOf(form.env.filter((r) => r.key === 'PATH' && !r.kept));
      void client.servers
        .resolve({
          command: form.command.trim(),
          args: form.args,
          ...(form.cwd.trim() ? { cwd: form.cwd.trim() } : {}),
          ...(env ? { env } : {}),
        })
        .then((r) => {
          if (current) setResolved(r.ok ? r.value : { found: false, message: r.message });
        });
    }, 250);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [client, form.kind, form.command, form.args, form.cwd, form.env]);

  const save = async (event: Event) => {
    event.preventDefault();
    setSaving(true);
    const entry = entryOf(form);
    let result;
    if (editing) {
      const patch: Record<string, unknown> = { ...entry };
      for (const key of FORM_KEYS) if (!(key in entry) && key in editing.entry) patch[key] = null;
      result = await client.servers.update({ name: editing.name, patch });
    } else {
      result = await client.servers.add({ name: form.name, entry });
    }
    setSaving(false);
    if (!result.ok) {
      setErrors(fieldErrors(result.message));
      return;
    }
    setErrors({});
    onDone(editing ? `Saved ${form.name}.` : `Added ${form.name}; it is starting.`);
  };

  const pickFolder = async () => {
    const r = await client.dialog.pickFolder();
    if (r.ok && r.value.path) set({ cwd: r.value.path });
  };

  const field = (id: string) => ({
    id: `f-${id}`,
    'aria-invalid': errors[id] ? true : undefined,
    'aria-describedby': errors[id] ? `e-${id}` : undefined,
  });
  const error = (id: string) =>
    errors[id] ? (
      <span class="field-error" id={`e-${id}`} data-testid={`error-${id}`}>
        {errors[id]}
      </span>
    ) : null;

  return (
    <form class="card server-form" onSubmit={(e) => void save(e)} aria-labelledby="form-title" noValidate>
      <h2 id="form-title">{editing ? `Edit ${editing.name}` : 'Add a server'}</h2>
      {errors['form'] && (
        <p class="field-error" role="alert" data-testid="error-form">
          {errors['form']}
        </p>
      )}
      <label for="f-name">Name</label>
      <input
        {...field('name')}
        value={form.name}
        disabled={editing !== undefined}
        onInput={(e) => set({ name: e.currentTarget.value })}
      />
      {error('name')}

      <fieldset class="kind">
        <legend>Kind</legend>
        <label>
          <input
            type="radio"
            name="kind"
            checked={form.kind === 'stdio'}
            onChange={() => set({ kind: 'stdio' })}
          />{' '}
          Program (stdio)
        </label>
        <label>
          <input
            type="radio"
            name="kind"
            checked={form.kind === 'http'}
            onChange={() => set({ kind: 'http' })}
          />{' '}
          HTTP server
        </label>
      </fieldset>

      {form.kind === 'stdio' ? (
        <>
          <label for="f-command">Command</label>
          <input
            {...field('command')}
            value={form.command}
            placeholder="npx"
            onInput={(e) => set({ command: e.currentTarget.value })}
          />
          {error('command')}
          <output class="resolved" data-testid="resolved" for="f-command">
            {resolved === undefined
              ? ''
              : resolved.found
                ? `Runs: ${resolved.commandLine}`
                : `Not found: ${resolved.message}`}
          </output>

          <ListField
            label="Arguments"
            items={form.args}
            onChange={(args) => set({ args })}
            error={error('args')}
          />
          <RowsField
            label="Environment"
            rows={form.env}
            onChange={(env) => set({ env })}
            error={error('env')}
          />
          <label for="f-cwd">Working directory (optional)</label>
          <div class="inline">
            <input
              {...field('cwd')}
              value={form.cwd}
              placeholder="/full/path"
              onInput={(e) => set({ cwd: e.currentTarget.value })}
            />
            {window.gateway && (
              <button type="button" class="small" onClick={() => void pickFolder()}>
                Choose…
              </button>
            )}
          </div>
          {error('cwd')}
        </>
      ) : (
        <>
          <label for="f-url">URL</label>
          <input
            {...field('url')}
            value={form.url}
            placeholder="https://example.com/mcp"
            onInput={(e) => set({ url: e.currentTarget.value })}
          />
          {error('url')}
          <RowsField
            label="Headers"
            rows={form.headers}
            onChange={(headers) => set({ headers })}
            error={error('headers')}
          />
        </>
      )}
      <label for="f-description">Description (optional)</label>
      <input
        {...field('description')}
        value={form.description}
        onInput={(e) => set({ description: e.currentTarget.value })}
      />
      <div class="actions">
        <button type="submit" disabled={saving}>
          {editing ? 'Save' : 'Add server'}
        </button>
        <button type="button" class="small" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function ListField(props: {
  label: string;
  items: string[];
  onChange: (items: string[]) => void;
  error: preact.ComponentChildren;
}) {
  const { label, items, onChange } = props;
  const update = (i: number, value: string) => onChange(items.map((v, j) => (j === i ? value : v)));
  return (
    <fieldset class="rows">
      <legend>{label}</legend>
      {items.map((value, i) => (
        <div class="inline" key={i}>
          <input
            aria-label={`${label} ${i + 1}`}
            value={value}
            onInput={(e) => update(i, e.currentTarget.value)}
          />
          <button
            type="button"
            class="small"
            aria-label={`Remove ${label.toLowerCase()} ${i + 1}`}
            onClick={() => onChange(items.filter((_, j) => j !== i))}
          >
            ✕
          </button>
        </div>
      ))}
      <button type="button" class="small" onClick={() => onChange([...items, ''])}>
        Add argument
      </button>
      {props.error}
    </fieldset>
  );
}

function RowsField(props: {
  label: string;
  rows: Row[];
  onChange: (rows: Row[]) => void;
  error: preact.ComponentChildren;
}) {
  const { label, rows, onChange } = props;
  const update = (i: number, patch: Partial<Row>) =>
    onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <fieldset class="rows">
      <legend>{label}</legend>
      {rows.map((row, i) => (
        <div class="inline" key={i}>
          <input
            aria-label={`${label} name ${i + 1}`}
            value={row.key}
            placeholder="NAME"
            onInput={(e) => update(i, { key: e.currentTarget.value })}
          />
          <input
            aria-label={`${label} value ${i + 1}`}
            type={row.secret ? 'password' : 'text'}
            autoComplete="off"
            value={row.value}
            placeholder={row.kept ? 'unchanged (saved value hidden)' : 'value'}
            onInput={(e) => update(i, { value: e.currentTarget.value })}
          />
          <label class="check">
            <input
              type="checkbox"
              checked={row.secret}
              onChange={(e) => update(i, { secret: e.currentTarget.checked })}
            />{' '}
            secret
          </label>
          <button
            type="button"
            class="small"
            aria-label={`Remove ${label.toLowerCase()} row ${i + 1}`}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
          >
            ✕
          </button>
        </div>
      ))}
      <button
        type="button"
        class="small"
        onClick={() => onChange([...rows, { key: '', value: '', secret: false, kept: false }])}
      >
        Add {label === 'Headers' ? 'header' : 'variable'}
      </button>
      {props.error}
    </fieldset>
  );
}
