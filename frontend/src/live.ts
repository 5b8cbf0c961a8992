// The one client of /api/v1/events/ws. It feeds the store, and when the socket drops it
// reconnects with backoff and `since_seq` (the last seq applied per node), so nothing is
// missed and nothing reloads. It never polls: it fetches only the node details the stream does
// not carry: the node list on each (re)connect, and one node when a message names a node this
// page has no details of yet (a node just added, or linking for the first time).

import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api, request } from "./api";
import { apply, nodes, putNode, seqs, version } from "./store";
import type { Node, NodeStatus, StreamMessage } from "./types";

/** live: open and applied; reconnecting: dropped, trying again; stale: down long enough that
 * what is shown may be out of date. */
export type SocketState = "connecting" | "live" | "reconnecting" | "stale";

export const socketState = signal<SocketState>("connecting");
/** When the socket was last live (ms), for "data as of". */
export const liveSince = signal<number | null>(null);
export const lastMessageAt = signal<number | null>(null);

const STALE_AFTER_MS = 10_000;
const MAX_BACKOFF_MS = 8_000;

/** Told of every message after the store applied it: pages that keep what the store does not
 * (alerts, audit entries; admins only) listen here. */
export const listeners = new Set<(message: { kind: string }) => void>();

/** `listen` hears every message while the calling component is mounted (the `listen` of its
 * first render: what it reads later goes through state setters or refs). */
export function useMessages(listen: (message: { kind: string }) => void): void {
  useEffect(() => {
    listeners.add(listen);
    return () => {
      listeners.delete(listen);
    };
  }, []);
}

let socket: WebSocket | null = null;
let attempt = 0;
let retryTimer: number | undefined;
let staleTimer: number | undefined;
let stopped = true;
let onSignedOut: () => void = () => {};

function url(): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const since = seqs.size
    ? `?since_seq=${encodeURIComponent(JSON.stringify(Object.fromEntries(seqs)))}`
    : "";
  return `${scheme}://${window.location.host}/api/v1/events/ws${since}`;
}

async function refreshNodes(): Promise<void> {
  try {
    const { nodes } = await api.nodes();
    for (const n of nodes) putNode(n);
    version.value++;
  } catch {
    // the stream carries on; node details fill in on the next connect
  }
}

/** A node that is new to this page, or links for the first time, gets its details (name,
 * labels, engine, host) fetched: its status messages carry none. The status shown stays the
 * stream's, whichever answer comes first. */
async function nodeDetails(nodeId: string, status: NodeStatus): Promise<void> {
  const known = nodes.get(nodeId);
  if (known?.agent_version) return;
  if (!known) {
    putNode(placeholder(nodeId, status));
    version.value++;
  }
  try {
    const fetched = await request<Node>("GET", `/api/v1/nodes/${encodeURIComponent(nodeId)}`);
    const now = nodes.get(nodeId);
    if (!now) return; // removed meanwhile
    putNode({ ...fetched, status: now.status });
    version.value++;
  } catch {
    // the placeholder stays; the next connect's node list fills it in
  }
}

function placeholder(nodeId: string, status: NodeStatus): Node {
  return {
    node_id: nodeId,
    name: "",
    labels: {},
    status,
    connected_at: null,
    last_seen: null,
    agent_version: "",
    hostname: "",
    engine: {
      available: true,
      message: "",
      version: null,
      api_version: null,
      os: null,
      arch: null,
    },
    containers: {},
    seq: 0,
  };
}

function open(): void {
  const ws = new WebSocket(url());
  socket = ws;
  ws.onopen = () => {
    attempt = 0;
    window.clearTimeout(staleTimer);
    socketState.value = "live";
    liveSince.value = Date.now();
    void refreshNodes();
  };
  ws.onmessage = (event: MessageEvent<string>) => {
    lastMessageAt.value = Date.now();
    const message = JSON.parse(event.data) as StreamMessage;
    apply(message);
    for (const listen of listeners) listen(message);
    if (message.kind === "node" && message.status !== "removed")
      void nodeDetails(message.node_id, message.status);
  };
  ws.onclose = (event: CloseEvent) => {
    if (socket !== ws) return;
    socket = null;
    if (stopped) return;
    if (event.code === 4401) {
      onSignedOut();
      return;
    }
    scheduleReconnect();
  };
}

function scheduleReconnect(): void {
  if (socketState.value === "live" || socketState.value === "connecting") {
    socketState.value = "reconnecting";
    window.clearTimeout(staleTimer);
    staleTimer = window.setTimeout(() => {
      if (socketState.value === "reconnecting") socketState.value = "stale";
    }, STALE_AFTER_MS);
  }
  const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
  attempt++;
  retryTimer = window.setTimeout(open, delay);
}

export function startLive(signedOut: () => void): void {
  onSignedOut = signedOut;
  if (!stopped) return;
  stopped = false;
  socketState.value = "connecting";
  open();
}

export function stopLive(): void {
  stopped = true;
  window.clearTimeout(retryTimer);
  window.clearTimeout(staleTimer);
  socket?.close();
  socket = null;
}
