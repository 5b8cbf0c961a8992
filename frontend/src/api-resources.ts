// Images, volumes and networks of one node (docs/API.md "Images, volumes, networks"): the API
// calls, the NDJSON pull stream, and the hooks that keep the lists live. A list is fetched when
// its page opens, when the events socket reconnects, and when an engine event of its type
// arrives for its node: never on a timer.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, request } from "./api";
import { liveSince } from "./live";
import { mayOperate, me } from "./session";
import { allContainers, key, type TimelineEntry, timeline, version } from "./store";
import type { Container, ContainerDetails } from "./types";

export interface Image {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  created: string | null;
  size: number;
  labels: Record<string, string>;
}

export interface Volume {
  name: string;
  driver: string;
  mountpoint: string;
  labels: Record<string, string>;
  created: string | null;
}

export interface Network {
  id: string;
  name: string;
  driver: string;
  scope: string;
  labels: Record<string, string>;
  internal: boolean;
}

export interface PruneResult {
  node_id: string;
  deleted: string[];
  space_reclaimed: number;
}

/** One line of a pull's NDJSON answer: progress, then `done` or `error` last. */
export interface PullLine {
  status?: string;
  id?: string | null;
  progress_current?: number | null;
  progress_total?: number | null;
  image?: string;
  error?: { code: string; message: string };
}

function base(node: string): string {
  return `/api/v1/nodes/${encodeURIComponent(node)}`;
}

export const resources = {
  images: (node: string) =>
    request<{ images: Image[] }>("GET", `${base(node)}/images`).then((r) => r.images),
  removeImage: (node: string, ref: string, force: boolean) =>
    request<{ deleted: string[] }>(
      "DELETE",
      `${base(node)}/images/${encodeURIComponent(ref)}${force ? "?force=true" : ""}`,
    ),
  pruneImages: (node: string, dangling: boolean) =>
    request<PruneResult>("POST", `${base(node)}/images/prune?dangling=${dangling}`),
  volumes: (node: string) =>
    request<{ volumes: Volume[] }>("GET", `${base(node)}/volumes`).then((r) => r.volumes),
  createVolume: (node: string, body: { name?: string; labels?: Record<string, string> }) =>
    request<Volume>("POST", `${base(node)}/volumes`, body),
  removeVolume: (node: string, name: string) =>
    request<void>("DELETE", `${base(node)}/volumes/${encodeURIComponent(name)}`),
  pruneVolumes: (node: string) => request<PruneResult>("POST", `${base(node)}/volumes/prune`),
  networks: (node: string) =>
    request<{ networks: Network[] }>("GET", `${base(node)}/networks`).then((r) => r.networks),
  createNetwork: (
    node: string,
    body: { name: string; driver?: string; labels?: Record<string, string>; internal?: boolean },
  ) => request<Network>("POST", `${base(node)}/networks`, body),
  removeNetwork: (node: string, ref: string) =>
    request<void>("DELETE", `${base(node)}/networks/${encodeURIComponent(ref)}`),
  pruneNetworks: (node: string, label: string) =>
    request<PruneResult>(
      "POST",
      `${base(node)}/networks/prune${label ? `?label=${encodeURIComponent(label)}` : ""}`,
    ),
};

/** Whether the signed-in user may change `node`'s resources (role and node grants, as the
 * API decides): a viewer, or an operator without a grant for the node, sees no control. */
export function mayOperateOn(node: string): boolean {
  const grants = me.value?.nodes;
  return mayOperate() && (grants === null || grants === undefined || grants.includes(node));
}

export function messageOf(err: unknown): string {
  return err instanceof ApiError ? err.message : String(err);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** `key=value` lines (or comma-separated) as labels; a line without `=` is a key with "". */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(/[\n,]/)) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf("=");
    labels[eq < 0 ? item : item.slice(0, eq).trim()] = eq < 0 ? "" : item.slice(eq + 1).trim();
  }
  return labels;
}

// ---- the pull stream ------------------------------------------------------------------------

async function failure(response: Response): Promise<ApiError> {
  // The same reading as api.ts: the API's own code and message, else the status line.
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.message)
      return new ApiError(response.status, body.error.code ?? "error", body.error.message);
  } catch {
    // not JSON
  }
  return new ApiError(response.status, "http_error", `${response.status} ${response.statusText}`);
}

/**
 * Pull `image` on `node`, handing each batch of progress lines to `onLines` as it arrives.
 * Aborting `signal` closes the request: the coordinator then closes the pull's channel and
 * the node ends the engine's pull (docs/API.md). Failures before the first line throw the
 * API's error; later ones arrive as the last line (`{"error"}`).
 */
export async function pullImage(
  node: string,
  image: string,
  signal: AbortSignal,
  onLines: (lines: PullLine[]) => void,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`${base(node)}/images/pull`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ image }),
      signal,
    });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new ApiError(0, "network", "the coordinator cannot be reached");
  }
  if (!response.ok || !response.body) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    const complete = buffer.split("\n");
    buffer = complete.pop() ?? "";
    const lines = complete.filter((l) => l.trim()).map((l) => JSON.parse(l) as PullLine);
    if (lines.length) onLines(lines);
  }
  if (buffer.trim()) onLines([JSON.parse(buffer) as PullLine]);
}

// ---- live lists -----------------------------------------------------------------------------

function newestSeq(node: string): number {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const e = timeline[i];
    if (e?.node_id === node) return e.seq;
  }
  return 0;
}

/**
 * Calls `onEvent` with each engine event of `node` the store applies after the first render
 * (oldest first); `null` when the node's numbering went back (its journal restarted), so
 * what happened cannot be told: reload. Must be called in render (it reads `version`).
 */
export function useEngineEvents(node: string, onEvent: (e: TimelineEntry | null) => void): void {
  version.value;
  const cursor = useRef<{ node: string; seq: number } | null>(null);
  const handler = useRef(onEvent);
  handler.current = onEvent;
  useEffect(() => {
    const at = cursor.current?.node === node ? cursor.current.seq : null;
    const newest = newestSeq(node);
    cursor.current = { node, seq: newest };
    if (at === null || newest === at) return;
    if (newest < at) {
      handler.current(null);
      return;
    }
    const fresh: TimelineEntry[] = [];
    for (let i = timeline.length - 1; i >= 0; i--) {
      const e = timeline[i];
      if (!e || e.node_id !== node) continue;
      if (e.seq <= at) break;
      fresh.push(e);
    }
    for (const e of fresh.reverse()) handler.current(e);
  });
}

/** A node's list, fetched on open, on reconnect, and after each event `relevant` picks. */
export function useLiveList<T>(
  node: string,
  load: (node: string) => Promise<T[]>,
  relevant: (e: TimelineEntry) => boolean,
): { items: T[] | null; error: string | null } {
  const [state, setState] = useState<{ node: string; items: T[] | null; error: string | null }>({
    node,
    items: null,
    error: null,
  });
  const [wanted, setWanted] = useState(0);
  const live = liveSince.value;
  useEngineEvents(node, (e) => {
    if (e === null || relevant(e)) setWanted((w) => w + 1);
  });
  useEffect(() => {
    if (!node) return;
    let current = true;
    // A burst of events (a prune deletes many) makes one fetch, a moment after the last.
    const timer = window.setTimeout(
      () => {
        load(node).then(
          (items) => current && setState({ node, items, error: null }),
          (err: unknown) =>
            current &&
            setState((s) => ({
              node,
              items: s.node === node ? s.items : null,
              error: messageOf(err),
            })),
        );
      },
      wanted ? 150 : 0,
    );
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [node, wanted, live, load]);
  return state.node === node ? state : { items: null, error: null };
}

// ---- what uses each volume and network ------------------------------------------------------

/** What one container uses, from its inspect answer. */
export interface Usage {
  id: string;
  name: string;
  volumes: string[];
  networks: string[];
}

const usageCache = new Map<string, { row: Container; usage: Usage }>();
const queued = new Set<string>();
const queue: Container[] = [];
const listeners = new Set<() => void>();
let running = 0;
/** Inspections at once: a node with many containers is read a few at a time. */
const PARALLEL = 4;

function usageOf(c: Container, d: ContainerDetails | null): Usage {
  const mounts = d?.mounts ?? [];
  return {
    id: c.id,
    name: c.name,
    volumes: mounts
      .filter((m) => m.type === "volume" && typeof m.name === "string" && m.name)
      .map((m) => String(m.name)),
    networks: Object.keys(d?.networks ?? {}),
  };
}

function pump(): void {
  while (running < PARALLEL && queue.length) {
    const c = queue.shift();
    if (!c) break;
    const k = key(c.node_id, c.id);
    running++;
    api
      .inspect(c.node_id, c.id, false)
      .then(
        (d) => usageCache.set(k, { row: c, usage: usageOf(c, d) }),
        // Gone meanwhile (or unreadable): it uses nothing until its next event says otherwise.
        () => usageCache.set(k, { row: c, usage: usageOf(c, null) }),
      )
      .finally(() => {
        running--;
        queued.delete(k);
        for (const notify of listeners) notify();
        pump();
      });
  }
}

/**
 * What each container of `node` uses (volumes, networks), from the API's inspect answer. A
 * container is read again when its row in the live store changes (an event) or when a network
 * event says it was connected or disconnected. `pending` counts containers not read yet.
 */
export function useUsage(node: string): { usages: Usage[]; pending: number } {
  version.value;
  const [, rerender] = useState(0);
  useEffect(() => {
    const notify = () => rerender((n) => n + 1);
    listeners.add(notify);
    return () => {
      listeners.delete(notify);
    };
  }, []);
  useEngineEvents(node, (e) => {
    const container = e?.attributes.container;
    if (e?.type === "network" && container) usageCache.delete(key(node, container));
  });
  const rows = allContainers().filter((c) => c.node_id === node);
  useEffect(() => {
    const present = new Set(rows.map((c) => key(node, c.id)));
    for (const [k, cached] of usageCache)
      if (cached.row.node_id === node && !present.has(k)) usageCache.delete(k);
    for (const c of rows) {
      const k = key(node, c.id);
      if (usageCache.get(k)?.row !== c && !queued.has(k)) {
        queued.add(k);
        queue.push(c);
      }
    }
    pump();
  });
  const usages: Usage[] = [];
  let pending = 0;
  for (const c of rows) {
    const cached = usageCache.get(key(node, c.id));
    if (cached) usages.push({ ...cached.usage, name: c.name });
    else pending++;
  }
  return { usages, pending };
}
