// Alerting (admin): rules, channels, the alert history (docs/API.md "Alerts (admin)", the kinds
// in docs/OBSERVABILITY.md), and the count of firing alerts for the header's bell. The bell
// reads the firing alerts once each time the events socket is live (alert frames are not
// replayed), then follows the socket's {"kind": "alert"} messages; nothing polls.

import { effect, signal } from "@preact/signals";
import { request } from "./api";
import { listeners, socketState } from "./live";
import { me } from "./session";

export type Kind =
  | "container_died"
  | "restart_loop"
  | "unhealthy"
  | "cpu_high"
  | "memory_high"
  | "node_offline"
  | "engine_unavailable"
  | "log_match";

export interface Param {
  name: string;
  label: string;
  type: "number" | "text";
  /** The API's default, as a placeholder (none: required or unset). */
  default?: string;
  required?: boolean;
}

const DURATION: Param = { name: "duration", label: "Duration (s)", type: "number", default: "0" };

/** The parameters of each kind, with the API's defaults (docklord/web/_alerts.py). */
export const KINDS: Record<Kind, Param[]> = {
  container_died: [],
  restart_loop: [
    { name: "restarts", label: "Restarts", type: "number", default: "3" },
    { name: "window", label: "Window (s)", type: "number", default: "300" },
  ],
  unhealthy: [],
  cpu_high: [
    { name: "threshold", label: "Threshold (% of a core)", type: "number", default: "90" },
    DURATION,
  ],
  memory_high: [
    { name: "threshold", label: "Threshold (% of the limit)", type: "number", default: "90" },
    { name: "threshold_bytes", label: "or threshold (bytes)", type: "number" },
    DURATION,
  ],
  node_offline: [{ ...DURATION, default: "60" }],
  engine_unavailable: [DURATION],
  log_match: [
    { name: "pattern", label: "Pattern (regex)", type: "text", required: true },
    { name: "resolve_after", label: "Resolve after (s)", type: "number", default: "300" },
  ],
};

export const NODE_KINDS: ReadonlySet<Kind> = new Set(["node_offline", "engine_unavailable"]);

export interface Selector {
  nodes: string[];
  name: string | null;
  labels: Record<string, string>;
}

export interface Rule {
  id: number;
  name: string;
  kind: Kind;
  enabled: boolean;
  selector: Selector;
  channels: number[];
  created_at: string;
  updated_at: string;
  [param: string]: unknown;
}

export type RuleBody = Omit<Rule, "id" | "created_at" | "updated_at">;

export interface Channel {
  id: number;
  name: string;
  type: "webhook" | "slack";
  receiver: string;
  timeout: number;
  max_attempts: number;
  backoff: number;
  created_at: string;
}

export interface NewChannel {
  name: string;
  type: "webhook" | "slack";
  url: string;
  timeout: number;
  max_attempts: number;
  backoff: number;
}

export interface Delivery {
  channel_id: number;
  event: "firing" | "resolved";
  attempt: number;
  time: string;
  ok: boolean;
  status_code: number | null;
  error: string | null;
}

export interface Alert {
  id: number;
  rule_id: number | null;
  rule: string;
  kind: Kind;
  state: "firing" | "resolved";
  subject: string;
  node_id: string | null;
  container_id: string | null;
  container_name: string | null;
  summary: string;
  details: Record<string, unknown>;
  fired_at: string;
  resolved_at: string | null;
  deliveries: Delivery[];
}

/** The events socket's alert messages (admins only). */
export type AlertFrame = Omit<Alert, "deliveries" | "kind"> & {
  kind: "alert";
  event: "firing" | "resolved";
  alert_kind: Kind;
};
export type DeliveryFrame = Delivery & { kind: "alert_delivery"; alert_id: number };

export interface TestResult {
  ok: boolean;
  status_code: number | null;
  error: string | null;
}

const BASE = "/api/v1/alerts";

export const alertsApi = {
  rules: () => request<{ rules: Rule[] }>("GET", `${BASE}/rules`),
  createRule: (body: Partial<RuleBody>) => request<Rule>("POST", `${BASE}/rules`, body),
  updateRule: (id: number, body: Partial<RuleBody>) =>
    request<Rule>("PATCH", `${BASE}/rules/${id}`, body),
  deleteRule: (id: number) => request<void>("DELETE", `${BASE}/rules/${id}`),
  channels: () => request<{ channels: Channel[] }>("GET", `${BASE}/channels`),
  createChannel: (body: NewChannel) => request<Channel>("POST", `${BASE}/channels`, body),
  /** Only the fields given change; without `url` the stored one stays (it is never shown). */
  updateChannel: (id: number, body: Partial<NewChannel>) =>
    request<Channel>("PATCH", `${BASE}/channels/${id}`, body),
  deleteChannel: (id: number) => request<void>("DELETE", `${BASE}/channels/${id}`),
  testChannel: (id: number) => request<TestResult>("POST", `${BASE}/channels/${id}/test`),
  alerts: (state: "" | "firing" | "resolved", beforeId: number | null = null, limit = 100) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (state) q.set("state", state);
    if (beforeId !== null) q.set("before_id", String(beforeId));
    return request<{ alerts: Alert[]; next_before_id: number | null }>("GET", `${BASE}?${q}`);
  },
};

/** The alert as a list shows it, from a socket frame (deliveries kept from `before`). */
export function alertOf(frame: AlertFrame, before?: Alert): Alert {
  const { kind: _, event: __, alert_kind, ...rest } = frame;
  return { ...rest, kind: alert_kind, deliveries: before?.deliveries ?? [] };
}

// ---- the bell -------------------------------------------------------------------------------

/** The ids of the firing alerts (admins only; empty for anyone else). */
export const firing = signal<ReadonlySet<number>>(new Set());
/** Firing alerts beyond the one page the bell reads (500). */
export const firingMore = signal(false);
let changedLive = new Map<number, boolean>();

async function readFiring(): Promise<void> {
  changedLive = new Map();
  try {
    const page = await alertsApi.alerts("firing", null, 500);
    const ids = new Set(page.alerts.map((a) => a.id));
    // What the socket said while the page was read wins over the page.
    for (const [id, on] of changedLive) {
      if (on) ids.add(id);
      else ids.delete(id);
    }
    firing.value = ids;
    firingMore.value = page.next_before_id !== null;
  } catch {
    // the count is read again on the next (re)connect; the socket keeps it current meanwhile
  }
}

listeners.add((m) => {
  if (m.kind !== "alert" || me.value?.role !== "admin") return;
  const frame = m as AlertFrame;
  const on = frame.event === "firing";
  changedLive.set(frame.id, on);
  const next = new Set(firing.value);
  if (on) next.add(frame.id);
  else next.delete(frame.id);
  firing.value = next;
});

effect(() => {
  const admin = me.value?.role === "admin";
  if (admin && socketState.value === "live") void readFiring();
  if (!admin) firing.value = new Set();
});
