// The live store of nodes and containers, fed only by the events socket (see live.ts). It
// applies each message the way the coordinator's fleet does: a snapshot replaces everything, a
// resync replaces one node's containers, an event upserts or removes one container.

import { signal } from "@preact/signals";
import type { Container, Node, StreamMessage } from "./types";

export interface NodeView extends Node {
  /** When this browser last heard of the node (an event, a status change, a snapshot). */
  heard_at: number;
}

export const nodes = new Map<string, NodeView>();
export const containers = new Map<string, Container>();
/** Per-node last sequence number applied: what a reconnect resumes from (since_seq). */
export const seqs = new Map<string, number>();
/** The latest engine events this page has seen (newest last), for the event timeline: those
 * the socket brought, and the recent ones from before (GET /api/v1/events, addHistory). */
export const timeline: TimelineEntry[] = [];
const TIMELINE_SIZE = 5000;
/** `node/seq` of every entry in the timeline: an event is listed once, whichever way it came. */
const inTimeline = new Set<string>();
/** Whether a snapshot was applied: from then on the socket brings every event. */
let synced = false;

export function hasSnapshot(): boolean {
  return synced;
}

export interface TimelineEntry {
  seq: number;
  node_id: string;
  type: string;
  action: string;
  actor_id: string;
  name: string;
  time: string | null;
  /** The engine's attributes (a network event's `container`, say). */
  attributes: Record<string, string>;
}

/** What a non-admin hears of their own instances' containers (the events socket's `instance`
 * messages; admins get container events instead), by instance id, with when it was heard. */
export const instanceEvents = new Map<string, InstanceEvent>();

export interface InstanceEvent {
  node_id: string;
  container_id: string;
  state: string | null;
  removed: boolean;
  heard_at: number;
}

/** Bumped after applied messages, at most once an animation frame: views read it to re-render.
 * A burst of events (100 a second over 5,000 containers) then costs one render a frame, not
 * one per event; in a hidden tab the store keeps applying and the views catch up when shown. */
export const version = signal(0);
let bumpPending = false;

function changed(): void {
  if (bumpPending) return;
  bumpPending = true;
  requestAnimationFrame(() => {
    bumpPending = false;
    version.value++;
  });
}

export function key(node: string, id: string): string {
  return `${node}/${id}`;
}

function lastSeen(node: Node): number {
  return node.last_seen ? Date.parse(node.last_seen) : 0;
}

export function putNode(node: Node): void {
  const known = nodes.get(node.node_id);
  nodes.set(node.node_id, {
    ...node,
    heard_at: Math.max(known?.heard_at ?? 0, lastSeen(node)),
  });
}

function heard(nodeId: string): void {
  const node = nodes.get(nodeId);
  if (node) node.heard_at = Date.now();
}

function upsert(row: Container): void {
  const k = key(row.node_id, row.id);
  const before = containers.get(k);
  // Events carry no resource sample: keep the last one while the container keeps running.
  if (before && row.cpu_percent === undefined && row.state === "running") {
    if (before.cpu_percent !== undefined) row.cpu_percent = before.cpu_percent;
    if (before.memory_usage !== undefined) row.memory_usage = before.memory_usage;
  }
  containers.set(k, row);
}

function replaceNode(nodeId: string, rows: Container[]): void {
  for (const [k, c] of containers) if (c.node_id === nodeId) containers.delete(k);
  for (const row of rows) upsert(row);
}

export function apply(message: StreamMessage): void {
  switch (message.kind) {
    case "snapshot":
      nodes.clear();
      containers.clear();
      seqs.clear();
      for (const n of message.nodes) putNode(n);
      for (const row of message.containers) upsert(row);
      for (const [n, s] of Object.entries(message.seq)) seqs.set(n, s);
      synced = true;
      break;
    case "resync":
      replaceNode(message.node_id, message.containers);
      seqs.set(message.node_id, message.seq);
      heard(message.node_id);
      break;
    case "event":
      seqs.set(message.node_id, Math.max(seqs.get(message.node_id) ?? 0, message.seq));
      heard(message.node_id);
      if (!inTimeline.has(key(message.node_id, String(message.seq)))) {
        timeline.push(entryOf(message));
        inTimeline.add(key(message.node_id, String(message.seq)));
        trimTimeline();
      }
      if (message.type !== "container") break;
      if (message.removed) containers.delete(key(message.node_id, message.actor_id));
      else if (message.container) upsert(message.container);
      break;
    case "instance":
      instanceEvents.set(message.instance_id, {
        node_id: message.node_id,
        container_id: message.container_id,
        state: message.state,
        removed: message.removed,
        heard_at: Date.now(),
      });
      break;
    case "node": {
      applyNodeStatus(message.node_id, message.status);
      const renamed = nodes.get(message.node_id);
      if (renamed && message.name !== undefined) renamed.name = message.name;
      if (renamed && message.labels !== undefined) renamed.labels = message.labels;
      break;
    }
    case "engine": {
      const node = nodes.get(message.node_id);
      if (node)
        node.engine = { ...node.engine, available: message.available, message: message.message };
      heard(message.node_id);
      break;
    }
  }
  changed();
}

type EventMessage = Extract<StreamMessage, { kind: "event" }>;

function entryOf(message: EventMessage): TimelineEntry {
  return {
    seq: message.seq,
    node_id: message.node_id,
    type: message.type,
    action: message.action,
    actor_id: message.actor_id,
    name: message.container?.name ?? message.attributes.name ?? message.actor_id.slice(0, 12),
    time: message.time,
    attributes: message.attributes,
  };
}

function trimTimeline(): void {
  const over = timeline.length - TIMELINE_SIZE;
  if (over <= 0) return;
  for (const e of timeline.splice(0, over)) inTimeline.delete(key(e.node_id, String(e.seq)));
}

/** Events from before the socket's (GET /api/v1/events, oldest first), into the timeline:
 * those it does not hold yet, ordered by time with what it holds. They change no container:
 * the snapshot is newer than any of them. */
export function addHistory(events: EventMessage[]): void {
  const fresh = events.filter((e) => !inTimeline.has(key(e.node_id, String(e.seq))));
  if (!fresh.length) return;
  for (const e of fresh) inTimeline.add(key(e.node_id, String(e.seq)));
  const merged = [...fresh.map(entryOf), ...timeline].map((e) => ({
    e,
    at: Date.parse(e.time ?? "") || 0,
  }));
  // Stable: entries of one time keep the order they came in (each node's in seq order).
  merged.sort((a, b) => a.at - b.at);
  timeline.splice(0, timeline.length, ...merged.map((m) => m.e));
  trimTimeline();
  changed();
}

function applyNodeStatus(nodeId: string, status: Node["status"] | "removed"): void {
  if (status === "removed") {
    nodes.delete(nodeId);
    seqs.delete(nodeId);
    replaceNode(nodeId, []);
    return;
  }
  const node = nodes.get(nodeId);
  if (node) {
    node.status = status;
    node.heard_at = Date.now();
  }
}

/** Every container, for the list views (read `version.value` first to subscribe). */
export function allContainers(): Container[] {
  return [...containers.values()];
}

/** Counts by state of a node's containers, from the live store. */
export function countsOf(nodeId: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const c of containers.values()) {
    if (c.node_id === nodeId) counts[c.state] = (counts[c.state] ?? 0) + 1;
  }
  return counts;
}

/** The container `ref` (id, unique id prefix or name) on `node`, if the store has it. */
export function findContainer(node: string, ref: string): Container | undefined {
  const exact = containers.get(key(node, ref));
  if (exact) return exact;
  const onNode = [...containers.values()].filter((c) => c.node_id === node);
  const byName = onNode.find((c) => c.name === ref);
  if (byName) return byName;
  const byPrefix = onNode.filter((c) => c.id.startsWith(ref));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

export function clearStore(): void {
  synced = false;
  timeline.length = 0; // the next user's timeline is theirs alone
  inTimeline.clear();
  nodes.clear();
  instanceEvents.clear();
  containers.clear();
  seqs.clear();
  version.value++;
}
