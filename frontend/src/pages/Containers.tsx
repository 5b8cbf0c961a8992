import { Component } from "preact";
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

const text = new Intl.Collator(undefined, { numeric: true }).compare;

function compare(a: Container, b: Container, sort: SortKey): number {
  switch (sort) {
    case "cpu":
      return (b.cpu_percent ?? -1) - (a.cpu_percent ?? -1);
    case "memory":
      return (b.memory_usage ?? -1) - (a.memory_usage ?? -1);
    case "created":
      return text(b.created ?? "", a.created ?? "");
    case "node":
      return text(a.node_id, b.node_id) || text(a.name, b.name);
    case "image":
      return text(a.image, b.image) || text(a.name, b.name);
    case "state":
      return text(a.state, b.state) || text(a.name, b.name);
    default:
      return text(a.name, b.name);
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

interface RowProps {
  c: Container;
  selected: boolean;
  toggle: (k: string) => void;
  selectable: boolean;
}

/** A row re-renders only when its container (a new object per change), its selection or the
 * caller's rights changed: an event redraws one row, not 5,000. */
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const now = this.props;
    return next.c !== now.c || next.selected !== now.selected || next.selectable !== now.selectable;
  }

  override render() {
    return <RowCells {...this.props} />;
  }
}

function RowCells(props: RowProps) {
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

/** The merged-logs page of these containers (the API takes at most 20). */
function mergedPath(chosen: Container[]): string {
  const q = new URLSearchParams(chosen.map((c) => ["container", `${c.node_id}/${c.id}`]));
  return `/logs/merged?${q}`;
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
      {props.chosen.length > 0 && props.chosen.length <= 20 && (
        <a class="button" href={mergedPath(props.chosen)}>
          Merged logs
        </a>
      )}
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

/** Longer lists draw only the rows near the screen (rows of a fixed height; the page keeps
 * its own scroll bar): a 5,000-row table costs the browser a layout of every row per change. */
const WINDOWED_FROM = 300;
const ROW_HEIGHT = 34;
const OVERSCAN = 20;

type Item = { group: string; count: number } | Container;

function flatten(order: string[], groups: Map<string, Container[]>): Item[] {
  const items: Item[] = [];
  for (const g of order) {
    const members = groups.get(g) ?? [];
    items.push({ group: g, count: members.length }, ...members);
  }
  return items;
}

function GroupRow(props: { g: string; count: number; span: number }) {
  return (
    <tr class="group" data-group={props.g}>
      <th colSpan={props.span} scope="rowgroup">
        {props.g} <span class="muted">({props.count})</span>
      </th>
    </tr>
  );
}

function WindowedBody(props: {
  items: Item[];
  span: number;
  selected: Set<string>;
  toggle: (k: string) => void;
  selectable: boolean;
}) {
  const body = useRef<HTMLTableSectionElement>(null);
  const [range, setRange] = useState<[number, number]>([0, 60]);
  const total = props.items.length;
  useEffect(() => {
    const measure = () => {
      const top = body.current?.getBoundingClientRect().top ?? 0;
      const first = Math.max(0, Math.floor(-top / ROW_HEIGHT) - OVERSCAN);
      const last = Math.min(
        total,
        first + Math.ceil(window.innerHeight / ROW_HEIGHT) + 2 * OVERSCAN,
      );
      setRange((now) => (now[0] === first && now[1] === last ? now : [first, last]));
    };
    measure();
    window.addEventListener("scroll", measure, { passive: true });
    window.addEventListener("resize", measure);
    return () => {
      window.removeEventListener("scroll", measure);
      window.removeEventListener("resize", measure);
    };
  }, [total]);
  const [first, last] = range;
  return (
    <tbody ref={body} class="windowed">
      <tr class="spacer" style={{ height: `${first * ROW_HEIGHT}px` }} />
      {props.items
        .slice(first, last)
        .map((item) =>
          "group" in item ? (
            <GroupRow
              key={`group:${item.group}`}
              g={item.group}
              count={item.count}
              span={props.span}
            />
          ) : (
            <Row
              key={key(item.node_id, item.id)}
              c={item}
              selected={props.selected.has(key(item.node_id, item.id))}
              toggle={props.toggle}
              selectable={props.selectable}
            />
          ),
        )}
      <tr class="spacer" style={{ height: `${Math.max(0, total - last) * ROW_HEIGHT}px` }} />
    </tbody>
  );
}

/** The keys of the rows in the order the list last drew them. */
let lastOrder: string[] = [];

/** `rows` in the order of the last render (new ones last). An event changes a row or two, so
 * the sort that follows gets an almost sorted list, which it orders in about n comparisons
 * instead of n log n: what keeps 100 events a second over 5,000 containers cheap. */
function inLastOrder(rows: Container[]): Container[] {
  const pool = new Map(rows.map((c) => [key(c.node_id, c.id), c]));
  const ordered: Container[] = [];
  for (const k of lastOrder) {
    const c = pool.get(k);
    if (c) {
      ordered.push(c);
      pool.delete(k);
    }
  }
  for (const c of pool.values()) ordered.push(c);
  return ordered;
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
  rows = inLastOrder(rows);
  rows.sort((a, b) => (scores.get(b) ?? 0) - (scores.get(a) ?? 0) || compare(a, b, sort));
  lastOrder = rows.map((c) => key(c.node_id, c.id));
  const groups = new Map<string, Container[]>();
  for (const c of rows) {
    const g = groupOf(c, group);
    const members = groups.get(g);
    if (members) members.push(c);
    else groups.set(g, [c]);
  }
  const selectable = mayOperate();
  // From the previous state: a row that did not re-render holds an older `toggle`.
  const toggle = (k: string) =>
    setSelected((before) => {
      const next = new Set(before);
      if (next.has(k)) next.delete(k);
      else next.add(k);
      return next;
    });
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
          {rows.length > WINDOWED_FROM ? (
            <WindowedBody
              items={flatten(groupOrder(group, [...groups.keys()]), groups)}
              span={COLUMNS.length + (selectable ? 1 : 0)}
              selected={selected}
              toggle={toggle}
              selectable={selectable}
            />
          ) : (
            groupOrder(group, [...groups.keys()]).map((g) => (
              <tbody key={g} data-group={g}>
                <GroupRow
                  g={g}
                  count={groups.get(g)?.length ?? 0}
                  span={COLUMNS.length + (selectable ? 1 : 0)}
                />
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
            ))
          )}
        </table>
      </div>
      {rows.length === 0 && <p class="muted">No container matches.</p>}
    </main>
  );
}
