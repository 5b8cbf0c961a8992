// The audit log (admin): pages of GET /api/v1/audit, the filter the page shares with the URL,
// and the export files. New entries arrive on the events socket as {"kind": "audit"} messages
// (live.ts listeners); the API has no export route, so the files are built from the pages.

import { request } from "./api";

export interface AuditEntry {
  id: number;
  time: string;
  actor: string;
  action: string;
  node: string | null;
  target: string | null;
  params: Record<string, unknown> | null;
  result: string;
  source_addr: string | null;
}

export interface AuditPage {
  entries: AuditEntry[];
  next_before_id: number | null;
}

/** The filters, as the URL holds them (`since`/`until` are datetime-local values). */
export interface AuditFilter {
  actor: string;
  action: string;
  node: string;
  result: "" | "ok" | "error";
  since: string;
  until: string;
}

export const FILTER_KEYS = ["actor", "action", "node", "result", "since", "until"] as const;

export function filterOf(params: URLSearchParams): AuditFilter {
  const result = params.get("result");
  return {
    actor: params.get("actor") ?? "",
    action: params.get("action") ?? "",
    node: params.get("node") ?? "",
    result: result === "ok" || result === "error" ? result : "",
    since: params.get("since") ?? "",
    until: params.get("until") ?? "",
  };
}

/** A datetime-local value (the browser's zone) as the ISO instant the API takes. */
function instant(local: string): string | null {
  const ms = Date.parse(local);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

function query(filter: AuditFilter, limit: number, beforeId: number | null): string {
  const q = new URLSearchParams();
  for (const k of ["actor", "action", "node", "result"] as const)
    if (filter[k]) q.set(k, filter[k]);
  const since = instant(filter.since);
  const until = instant(filter.until);
  if (since) q.set("since", since);
  if (until) q.set("until", until);
  q.set("limit", String(limit));
  if (beforeId !== null) q.set("before_id", String(beforeId));
  return q.toString();
}

export function auditPage(
  filter: AuditFilter,
  beforeId: number | null = null,
  limit = 100,
): Promise<AuditPage> {
  return request<AuditPage>("GET", `/api/v1/audit?${query(filter, limit, beforeId)}`);
}

/** Whether a live entry belongs in the list the filter shows (as the API would filter it). */
export function matches(entry: AuditEntry, filter: AuditFilter): boolean {
  if (filter.actor && entry.actor !== filter.actor) return false;
  if (filter.action && entry.action !== filter.action) return false;
  if (filter.node && entry.node !== filter.node) return false;
  if (filter.result === "ok" && entry.result !== "ok") return false;
  if (filter.result === "error" && !entry.result.startsWith("error")) return false;
  const at = Date.parse(entry.time);
  const since = instant(filter.since);
  const until = instant(filter.until);
  if (since && at < Date.parse(since)) return false;
  if (until && at >= Date.parse(until)) return false;
  return true;
}

/** Every entry the filter matches, newest first, page by page (for the export). */
export async function allEntries(filter: AuditFilter): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let before: number | null = null;
  do {
    const page: AuditPage = await auditPage(filter, before, 1000);
    out.push(...page.entries);
    before = page.next_before_id;
  } while (before !== null);
  return out;
}

export function toNdjson(entries: AuditEntry[]): string {
  return entries.map((e) => JSON.stringify(e)).join("\n") + (entries.length ? "\n" : "");
}

const CSV_COLUMNS = [
  "id",
  "time",
  "actor",
  "action",
  "node",
  "target",
  "result",
  "source_addr",
  "params",
] as const;

function cell(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  // Quote every field that needs it (RFC 4180), and defuse spreadsheet formulas.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export function toCsv(entries: AuditEntry[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const e of entries) lines.push(CSV_COLUMNS.map((k) => cell(e[k])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
