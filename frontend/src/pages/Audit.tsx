// The audit log (admin): who did what, where, when, and how it ended; newest first. The
// filters live in the URL; new entries are appended live from the events socket's
// {"kind": "audit"} messages, and after a reconnect the newest page is read again (those
// messages are not replayed). Export builds NDJSON or CSV from the API's pages.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../api";
import {
  type AuditEntry,
  type AuditFilter,
  allEntries,
  auditPage,
  FILTER_KEYS,
  filterOf,
  matches,
  toCsv,
  toNdjson,
} from "../api-audit";
import { ErrorLine } from "../components";
import { date } from "../format";
import { socketState, useMessages } from "../live";
import { location, setParams } from "../router";
import { nodes, version } from "../store";
import { ListTable } from "../table";

function byNewest(entries: AuditEntry[]): AuditEntry[] {
  const seen = new Map<number, AuditEntry>();
  for (const e of entries) seen.set(e.id, e);
  return [...seen.values()].sort((a, b) => b.id - a.id);
}

function message(err: unknown): string {
  return err instanceof ApiError ? err.message : String(err);
}

/** The entries of the current filter: its first page, older pages on demand, live ones. */
function useAuditLog(filter: AuditFilter) {
  const key = JSON.stringify(filter);
  const [entries, setEntries] = useState<AuditEntry[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  // `arrived`: live entries of this filter since its page was asked for (the page may miss them).
  const current = useRef({ key, filter, loaded: "", arrived: [] as AuditEntry[] });
  current.current.filter = filter;
  current.current.key = key;
  const live = socketState.value === "live";

  useEffect(() => {
    const asked = key;
    current.current.arrived = [];
    setLoading(true);
    auditPage(filter).then(
      (page) => {
        if (current.current.key !== asked) return; // the filter changed meanwhile
        const same = current.current.loaded === asked;
        current.current.loaded = asked;
        // A reload after a reconnect fills the gap; a new filter starts over.
        const kept = same ? null : current.current.arrived;
        setEntries((prev) => byNewest([...page.entries, ...(kept ?? prev)]));
        if (!same) setNext(page.next_before_id);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (current.current.key !== asked) return;
        setError(message(err));
        setLoading(false);
      },
    );
  }, [key, live]);

  useMessages((m) => {
    if (m.kind !== "audit") return;
    const { kind: _, ...entry } = m as AuditEntry & { kind: string };
    if (!matches(entry, current.current.filter)) return;
    current.current.arrived.push(entry);
    setEntries((prev) => byNewest([entry, ...prev]));
  });

  async function more() {
    if (next === null) return;
    try {
      const page = await auditPage(filter, next);
      setEntries((prev) => byNewest([...prev, ...page.entries]));
      setNext(page.next_before_id);
    } catch (err) {
      setError(message(err));
    }
  }
  return { entries, next, error, loading, more };
}

function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.setAttribute("data-external", "");
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function Export({ filter }: { filter: AuditFilter }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function go(format: "ndjson" | "csv") {
    setBusy(true);
    setError(null);
    try {
      const entries = await allEntries(filter);
      const stamp = new Date().toISOString().replaceAll(":", "").slice(0, 15);
      if (format === "csv") download(`docklord-audit-${stamp}.csv`, "text/csv", toCsv(entries));
      else download(`docklord-audit-${stamp}.ndjson`, "application/x-ndjson", toNdjson(entries));
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <span class="audit-export">
      <button type="button" disabled={busy} onClick={() => void go("ndjson")}>
        Export NDJSON
      </button>
      <button type="button" disabled={busy} onClick={() => void go("csv")}>
        Export CSV
      </button>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

function TextFilter(props: {
  name: "actor" | "action" | "node";
  value: string;
  options: string[];
}) {
  const list = `audit-${props.name}-options`;
  return (
    <label>
      {props.name[0]?.toUpperCase()}
      {props.name.slice(1)}
      <input
        key={props.value}
        name={props.name}
        list={list}
        defaultValue={props.value}
        placeholder="any"
        onChange={(e) =>
          setParams({ [props.name]: (e.currentTarget as HTMLInputElement).value.trim() })
        }
      />
      <datalist id={list}>
        {props.options.map((o) => (
          <option key={o} value={o} />
        ))}
      </datalist>
    </label>
  );
}

function TimeFilter(props: { name: "since" | "until"; value: string }) {
  return (
    <label>
      {props.name === "since" ? "Since" : "Until"}
      <input
        type="datetime-local"
        name={props.name}
        step="1"
        key={props.value}
        defaultValue={props.value}
        onChange={(e) => setParams({ [props.name]: (e.currentTarget as HTMLInputElement).value })}
      />
    </label>
  );
}

function Filters(props: { filter: AuditFilter; entries: AuditEntry[] }) {
  version.value; // the node suggestions follow the live store
  const { filter } = props;
  const distinct = (pick: (e: AuditEntry) => string | null) =>
    [...new Set(props.entries.map(pick).filter((v): v is string => !!v))].sort();
  const any = FILTER_KEYS.some((k) => filter[k]);
  return (
    <form class="audit-filters" aria-label="Audit filters" onSubmit={(e) => e.preventDefault()}>
      <TextFilter name="actor" value={filter.actor} options={distinct((e) => e.actor)} />
      <TextFilter name="action" value={filter.action} options={distinct((e) => e.action)} />
      <TextFilter
        name="node"
        value={filter.node}
        options={[...new Set([...nodes.keys(), ...distinct((e) => e.node)])].sort()}
      />
      <label>
        Result
        <select
          name="result"
          value={filter.result}
          onChange={(e) => setParams({ result: (e.currentTarget as HTMLSelectElement).value })}
        >
          <option value="">any</option>
          <option value="ok">ok</option>
          <option value="error">error</option>
        </select>
      </label>
      <TimeFilter name="since" value={filter.since} />
      <TimeFilter name="until" value={filter.until} />
      {any && (
        <button
          type="button"
          onClick={() => setParams(Object.fromEntries(FILTER_KEYS.map((k) => [k, null])))}
        >
          Clear filters
        </button>
      )}
    </form>
  );
}

function Row({ e }: { e: AuditEntry }) {
  const ok = e.result === "ok";
  return (
    <tr data-testid="audit-row" data-actor={e.actor} data-action={e.action} data-result={e.result}>
      <td class="muted">
        <time dateTime={e.time}>{date(e.time)}</time>
      </td>
      <td>
        <button
          type="button"
          class="link"
          title={`only ${e.actor}`}
          onClick={() => setParams({ actor: e.actor })}
        >
          {e.actor}
        </button>
      </td>
      <td>{e.action}</td>
      <td>{e.node ?? ""}</td>
      <td class="wrap">{e.target ?? ""}</td>
      <td>
        <span class={`result ${ok ? "result-ok" : "result-error"}`}>{e.result}</span>
      </td>
      <td class="muted">{e.source_addr ?? ""}</td>
      <td class="wrap muted audit-params">{e.params ? JSON.stringify(e.params) : ""}</td>
    </tr>
  );
}

const COLUMNS = ["Time", "Actor", "Action", "Node", "Target", "Result", "Source", "Parameters"];

export function Audit() {
  const filter = filterOf(location.value.searchParams);
  const log = useAuditLog(filter);
  return (
    <main>
      <div class="page-head">
        <h1>Audit log</h1>
        <Export filter={filter} />
      </div>
      <Filters filter={filter} entries={log.entries} />
      <ErrorLine error={log.error} />
      <p class="muted" aria-live="polite">
        {log.loading
          ? "Loading…"
          : `${log.entries.length} entries shown, newest first; new ones appear live.`}
      </p>
      <ListTable
        class="containers audit"
        columns={COLUMNS}
        items={log.entries}
        empty={log.loading ? undefined : "No entry matches."}
        row={(e) => <Row key={e.id} e={e} />}
      />
      {log.next !== null && (
        <button type="button" onClick={() => void log.more()}>
          Older entries
        </button>
      )}
    </main>
  );
}
