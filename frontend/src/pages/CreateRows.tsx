// The create form's parts: its sections and fields with their messages, the row editors (env,
// labels, ports, mounts), the .env paste and the `docker run` line with its Copy button.

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Protocol } from "../api-create";
import { type MountRow, type Pair, type PortRow, parseDotEnv } from "../create-form";

/** Form path → the messages shown next to its input. */
export type Placed = Record<string, string[]>;

/** Ties each input to its messages (`aria-describedby`) and renders them. */
export interface Messages {
  attrs: (path: string) => { "aria-invalid"?: true; "aria-describedby"?: string };
  message: (path: string) => preact.JSX.Element | null;
}

function idOf(path: string): string {
  return `err-${path.replaceAll(".", "-")}`;
}

export function messagesOf(placed: Placed): Messages {
  return {
    attrs: (path) => (placed[path] ? { "aria-invalid": true, "aria-describedby": idOf(path) } : {}),
    message: (path) =>
      placed[path] ? (
        <span class="field-error" id={idOf(path)} data-testid={`field-error-${path}`}>
          {placed[path].join("; ")}
        </span>
      ) : null,
  };
}

export function value(e: Event): string {
  return (e.currentTarget as HTMLInputElement).value;
}

export function checked(e: Event): boolean {
  return (e.currentTarget as HTMLInputElement).checked;
}

export function Section(props: { title: string; children: ComponentChildren }) {
  return (
    <fieldset class="create-section">
      <legend>{props.title}</legend>
      {props.children}
    </fieldset>
  );
}

/** A text input labelled with the API's field name, its messages under it. */
export function TextField(props: {
  name: string;
  value: string;
  onInput: (value: string) => void;
  m: Messages;
  placeholder?: string;
  list?: string;
  inputMode?: "numeric" | "decimal";
}) {
  return (
    <label class="create-field">
      {props.name}
      <input
        aria-label={props.name}
        value={props.value}
        onInput={(e) => props.onInput(value(e))}
        placeholder={props.placeholder}
        list={props.list}
        inputMode={props.inputMode}
        {...props.m.attrs(props.name)}
      />
      {props.m.message(props.name)}
    </label>
  );
}

export function Options({ id, values }: { id: string; values: string[] }) {
  return (
    <datalist id={id}>
      {[...new Set(values)].sort().map((v) => (
        <option key={v} value={v} />
      ))}
    </datalist>
  );
}

function replace<T>(rows: T[], i: number, change: Partial<T>): T[] {
  return rows.map((row, j) => (j === i ? { ...row, ...change } : row));
}

export function PairsEditor(props: {
  title: string;
  what: string;
  pairs: Pair[];
  onChange: (pairs: Pair[]) => void;
}) {
  const { pairs, title, onChange } = props;
  return (
    <>
      {pairs.map((p, i) => (
        <div class="create-row" key={i}>
          <input
            aria-label={`${title} ${i + 1} key`}
            placeholder="KEY"
            value={p.key}
            onInput={(e) => onChange(replace(pairs, i, { key: value(e) }))}
          />
          <span aria-hidden="true">=</span>
          <input
            aria-label={`${title} ${i + 1} value`}
            placeholder="value"
            value={p.value}
            onInput={(e) => onChange(replace(pairs, i, { value: value(e) }))}
          />
          <button
            type="button"
            aria-label={`Remove ${title} ${i + 1}`}
            onClick={() => onChange(pairs.filter((_, j) => j !== i))}
          >
            ✕
          </button>
        </div>
      ))}
      <button type="button" onClick={() => onChange([...pairs, { key: "", value: "" }])}>
        Add {props.what}
      </button>
    </>
  );
}

export function DotEnvPaste({ onPairs }: { onPairs: (pairs: Pair[]) => void }) {
  const [text, setText] = useState("");
  const [note, setNote] = useState<string | null>(null);
  function add() {
    const parsed = parseDotEnv(text);
    onPairs(parsed.pairs);
    const skipped = parsed.bad.length
      ? `; not KEY=VALUE, skipped: line ${parsed.bad.join(", ")}`
      : "";
    setNote(`${parsed.pairs.length} added${skipped}`);
    if (parsed.bad.length === 0) setText("");
  }
  return (
    <details class="create-dotenv">
      <summary>Paste a .env file</summary>
      <textarea
        aria-label=".env file"
        rows={4}
        placeholder={"# KEY=VALUE lines\nTZ=UTC"}
        value={text}
        onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)}
      />
      <button type="button" onClick={add} disabled={!text.trim()}>
        Add to env
      </button>
      {note && <output class="muted">{note}</output>}
    </details>
  );
}

export const NEW_PORT: PortRow = {
  host_ip: "",
  host_port: "",
  container_port: "",
  protocol: "tcp",
};

export function PortRows(props: {
  ports: PortRow[];
  onChange: (ports: PortRow[]) => void;
  onRemove: (i: number) => void;
  m: Messages;
}) {
  const { ports, onChange, m } = props;
  const field = (i: number, name: "host_ip" | "host_port" | "container_port", hint: string) => (
    <label>
      {name}
      <input
        aria-label={name}
        value={ports[i]?.[name]}
        placeholder={hint}
        inputMode={name === "host_ip" ? undefined : "numeric"}
        onInput={(e) => onChange(replace(ports, i, { [name]: value(e) }))}
        {...m.attrs(`ports.${i}.${name}`)}
      />
      {m.message(`ports.${i}.${name}`)}
    </label>
  );
  return (
    <>
      {ports.map((p, i) => (
        <fieldset class="create-row create-port" key={i} aria-label={`Port ${i + 1}`}>
          {field(i, "host_ip", "all addresses")}
          {field(i, "host_port", "any")}
          {field(i, "container_port", "80")}
          <label>
            protocol
            <select
              aria-label="protocol"
              value={p.protocol}
              onChange={(e) => onChange(replace(ports, i, { protocol: value(e) as Protocol }))}
              {...m.attrs(`ports.${i}.protocol`)}
            >
              <option value="tcp">tcp</option>
              <option value="udp">udp</option>
              <option value="sctp">sctp</option>
            </select>
            {m.message(`ports.${i}.protocol`)}
          </label>
          <button
            type="button"
            aria-label={`Remove port ${i + 1}`}
            onClick={() => props.onRemove(i)}
          >
            ✕
          </button>
          {m.message(`ports.${i}`)}
        </fieldset>
      ))}
      <button type="button" onClick={() => onChange([...ports, { ...NEW_PORT }])}>
        Add port
      </button>
    </>
  );
}

export function MountRows(props: {
  mounts: MountRow[];
  admin: boolean;
  onChange: (mounts: MountRow[]) => void;
  onRemove: (i: number) => void;
  m: Messages;
}) {
  const { mounts, onChange, m } = props;
  const put = (i: number, change: Partial<MountRow>) => onChange(replace(mounts, i, change));
  return (
    <>
      {mounts.map((row, i) => (
        <fieldset class="create-row create-mount" key={i} aria-label={`Mount ${i + 1}`}>
          {/* Bind mounts are for admins only (the API answers others 403): not offered. */}
          {props.admin && (
            <label>
              type
              <select
                aria-label="type"
                value={row.type}
                onChange={(e) => put(i, { type: value(e) as MountRow["type"] })}
              >
                <option value="volume">volume</option>
                <option value="bind">bind</option>
              </select>
            </label>
          )}
          <label>
            source
            <input
              aria-label="source"
              value={row.source}
              list={row.type === "volume" ? "create-volumes" : undefined}
              placeholder={row.type === "volume" ? "volume name" : "/host/path"}
              onInput={(e) => put(i, { source: value(e) })}
              {...m.attrs(`mounts.${i}.source`)}
            />
            {m.message(`mounts.${i}.source`)}
          </label>
          <label>
            target
            <input
              aria-label="target"
              value={row.target}
              placeholder="/data"
              onInput={(e) => put(i, { target: value(e) })}
              {...m.attrs(`mounts.${i}.target`)}
            />
            {m.message(`mounts.${i}.target`)}
          </label>
          <label class="create-check">
            <input
              type="checkbox"
              checked={row.read_only}
              onChange={(e) => put(i, { read_only: checked(e) })}
            />
            read_only
          </label>
          <button
            type="button"
            aria-label={`Remove mount ${i + 1}`}
            onClick={() => props.onRemove(i)}
          >
            ✕
          </button>
          {m.message(`mounts.${i}`)}
        </fieldset>
      ))}
      <button
        type="button"
        onClick={() =>
          onChange([...mounts, { type: "volume", source: "", target: "", read_only: false }])
        }
      >
        Add volume
      </button>
    </>
  );
}

export function CopyLine({ line }: { line: string }) {
  const code = useRef<HTMLElement>(null);
  const [status, setStatus] = useState("");
  useEffect(() => setStatus(""), [line]);
  async function copy() {
    try {
      await navigator.clipboard.writeText(line);
      setStatus("Copied");
    } catch {
      // No clipboard here (an insecure origin, a refused permission): select it for Ctrl+C.
      const range = document.createRange();
      if (code.current) range.selectNodeContents(code.current);
      window.getSelection()?.removeAllRanges();
      window.getSelection()?.addRange(range);
      setStatus("Selected: press Ctrl+C to copy");
    }
  }
  return (
    <section class="create-run" aria-label="docker run">
      <h2>As docker run</h2>
      <code ref={code} data-testid="docker-run">
        {line}
      </code>
      <div class="create-run-buttons">
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <output aria-live="polite">{status}</output>
      </div>
    </section>
  );
}
