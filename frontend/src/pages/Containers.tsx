import { useEffect, useRef, useState } from "preact/hooks";
import { type BulkResult, runMany } from "../actions";
import type { Action } from "../api";
import { StateBadge } from "../components";
import { bytes, date, percent, ports, shortId } from "../format";
import { containerPath, location, setParams } from "../router";
import { score } from "../search";
import { mayOperate } from "../session";
import { allContainers, key, version } from "../store";
import type { Container } from "../types";

type Group = "state" | "node" | "project";
type SortKey = "name" | "node" | "image" | "state" | "created" | "cpu" | "memory";

const COLUMNS: { key: SortKey | null; label: string }[] = [
  { key: "name", label: "Name" },
  { key: "node", label: "Node" },
  { key: "image", label: "Image" },
  { key: "state", label: "State" },
  { key: null, label: "Status" },
  { key: null, label: "Ports" },
  { key: "created", label: "Created" },
  { key: "cpu", label: "CPU" },
  { key: "memory", label: "Memory" },
];

function groupOf(c: Container, group: Group): string {
  if (group === "node") return c.node_id;
  if (group === "project") return c.labels["com.docker.compose.project"] ?? "(no project)";
  if (c.state === "running") return "Running";
  if (c.state === "exited") return "Exited";
  return "Other";
}

function groupOrder(group: Group, names: string[]): string[] {
  if (group === "state") return ["Running", "Exited", "Other"].filter((g) => names.includes(g));
  return [...names].sort();
}

function compare(a: Container, b: Container, sort: SortKey): number {
  switch (sort) {
    case "cpu":
      return (b.cpu_percent ?? -1) - (a.cpu_percent ?? -1);
    case "memory":
      return (b.memory_usage ?? -1) - (a.memory_usage ?? -1);
    case "created":
      return (b.created ?? "").localeCompare(a.created ?? "");
    case "node":
      return a.node_id.localeCompare(b.node_id) || a.name.localeCompare(b.name);
    case "image":
      return a.image.localeCompare(b.image) || a.name.localeCompare(b.name);
    case "state":
      return a.state.localeCompare(b.state) || a.name.localeCompare(b.name);
    default:
      return a.name.localeCompare(b.name);
  }
}

function useSearchShortcut(input: { current: HTMLInputElement | null }) {
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const typing = (event.target as Element | null)?.closest?.("input, textarea, select");
      const ctrlK = event.key.toLowerCase() === "k" && (event.ctrlKey || event.metaKey);
      if (ctrlK || (event.key === "/" && !typing)) {
        event.preventDefault();
        input.current?.focus();
        input.current?.select();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [input]);
}

function Row(props: {
  c: Container;
  selected: boolean;
  toggle: (k: string) => void;
  selectable: boolean;
}) {
  const { c } = props;
  const k = key(c.node_id, c.id);
  return (
    <tr data-testid="container-row" data-name={c.name} data-state={c.state}>
      {props.selectable && (
        <td>
          <input
            type="checkbox"
            aria-label={`select ${c.name}`}
            checked={props.selected}
            onChange={() => props.toggle(k)}
          />
        </td>
      )}
      <td>
        <a href={containerPath(c.node_id, c.id)} title={shortId(c.id)}>
          {c.name}
        </a>
      </td>
      <td>{c.node_id}</td>
      <td class="wrap">{c.image}</td>
      <td>
        <StateBadge state={c.state} />
      </td>
      <td class="muted">{c.status}</td>
      <td class="wrap">{ports(c)}</td>
      <td class="muted">{date(c.created)}</td>
      <td class="num">{percent(c.cpu_percent)}</td>
      <td class="num">{bytes(c.memory_usage)}</td>
    </tr>
  );
}

function BulkBar(props: { chosen: Container[]; clear: () => void }) {
  const [results, setResults] = useState<BulkResult[] | null>(null);
  const [busy, setBusy] = useState(false);
  async function go(action: Action) {
    setBusy(true);
    setResults(await runMany(props.chosen, action));
    setBusy(false);
  }
  const failed = (results ?? []).filter((r) => r.error);
  return (
    <div class="bulk" role="toolbar" aria-label="Selected containers">
      <span>{props.chosen.length} selected</span>
      {(["start", "stop", "restart"] as const).map((a) => (
        <button
          key={a}
          type="button"
          disabled={busy || props.chosen.length === 0}
          onClick={() => go(a)}
        >
          {a[0]?.toUpperCase()}
          {a.slice(1)}
        </button>
      ))}
      <button type="button" onClick={props.clear}>
        Clear
      </button>
      {failed.map((r) => (
        <p class="error" role="alert" key={key(r.container.node_id, r.container.id)}>
          {r.container.name}: {r.error}
        </p>
      ))}
    </div>
  );
}

export function Containers() {
  version.value;
  const params = location.value.searchParams;
  const q = params.get("q") ?? "";
  const group = (params.get("group") ?? "state") as Group;
  const sort = (params.get("sort") ?? "name") as SortKey;
  const nodeFilter = params.get("node");
  const stateFilter = params.get("state");
  const input = useRef<HTMLInputElement>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  useSearchShortcut(input);

  let rows = allContainers().filter(
    (c) => (!nodeFilter || c.node_id === nodeFilter) && (!stateFilter || c.state === stateFilter),
  );
  const scores = new Map<Container, number>();
  if (q) {
    rows = rows.filter((c) => {
      const s = score(c, q);
      scores.set(c, s);
      return s >= 0;
    });
  }
  rows.sort((a, b) => (scores.get(b) ?? 0) - (scores.get(a) ?? 0) || compare(a, b, sort));
  const groups = new Map<string, Container[]>();
  for (const c of rows) {
    const g = groupOf(c, group);
    groups.set(g, [...(groups.get(g) ?? []), c]);
  }
  const selectable = mayOperate();
  const toggle = (k: string) => {
    const next = new Set(selected);
    if (next.has(k)) next.delete(k);
    else next.add(k);
    setSelected(next);
  };
  const chosen = rows.filter((c) => selected.has(key(c.node_id, c.id)));

  return (
    <main>
      <header class="page-head list-head">
        <h1>Containers</h1>
        {selectable && (
          <a
            class="button"
            href={`/create${nodeFilter ? `?node=${encodeURIComponent(nodeFilter)}` : ""}`}
          >
            New container
          </a>
        )}
      </header>
      <div class="toolbar">
        <input
          ref={input}
          type="search"
          aria-label="Search containers (/ or Ctrl+K)"
          placeholder="Search name, image, id, label, node  ( / )"
          value={q}
          onInput={(e) => setParams({ q: (e.currentTarget as HTMLInputElement).value })}
        />
        <label>
          Group by{" "}
          <select
            value={group}
            onChange={(e) => setParams({ group: (e.currentTarget as HTMLSelectElement).value })}
          >
            <option value="state">state</option>
            <option value="node">node</option>
            <option value="project">compose project</option>
          </select>
        </label>
        {nodeFilter && (
          <button type="button" onClick={() => setParams({ node: null })}>
            node: {nodeFilter} ✕
          </button>
        )}
        {stateFilter && (
          <button type="button" onClick={() => setParams({ state: null })}>
            state: {stateFilter} ✕
          </button>
        )}
        <span class="muted">{rows.length} containers</span>
      </div>
      {selectable && chosen.length > 0 && (
        <BulkBar chosen={chosen} clear={() => setSelected(new Set())} />
      )}
      <div class="table-wrap">
        <table class="containers">
          <thead>
            <tr>
              {selectable && <th aria-label="Select" />}
              {COLUMNS.map((col) => (
                <th key={col.label} aria-sort={col.key === sort ? "ascending" : undefined}>
                  {col.key ? (
                    <button type="button" class="sort" onClick={() => setParams({ sort: col.key })}>
                      {col.label}
                      {col.key === sort ? " ▾" : ""}
                    </button>
                  ) : (
                    col.label
                  )}
                </th>
              ))}
            </tr>
          </thead>
          {groupOrder(group, [...groups.keys()]).map((g) => (
            <tbody key={g} data-group={g}>
              <tr class="group">
                <th colSpan={COLUMNS.length + (selectable ? 1 : 0)} scope="rowgroup">
                  {g} <span class="muted">({groups.get(g)?.length ?? 0})</span>
                </th>
              </tr>
              {(groups.get(g) ?? []).map((c) => (
                <Row
                  key={key(c.node_id, c.id)}
                  c={c}
                  selected={selected.has(key(c.node_id, c.id))}
                  toggle={toggle}
                  selectable={selectable}
                />
              ))}
            </tbody>
          ))}
        </table>
      </div>
      {rows.length === 0 && <p class="muted">No container matches.</p>}
    </main>
  );
}
