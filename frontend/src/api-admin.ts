// The identity administration calls (docs/API.md "Identity"): node registration and revocation,
// users, the caller's own password and API tokens. Built on the one REST client in api.ts.

import { request } from "./api";
import type { Node } from "./types";

export type Role = "viewer" | "operator" | "admin";
export const ROLES: readonly Role[] = ["viewer", "operator", "admin"];

export interface User {
  id: number;
  username: string;
  role: Role;
  /** null: every node. */
  node_grants: string[] | null;
  disabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface ApiToken {
  id: number;
  user_id: number;
  name: string;
  prefix: string;
  role_scope: Role | null;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  created_at: string;
  active: boolean;
}

export interface NewNode {
  mode: "secret" | "token";
  node_id?: string;
  name?: string;
  labels?: Record<string, string>;
}

/** The answer to a registration: `command` holds the secret and is shown this once. */
export interface Registered {
  node_id: string;
  mode: "secret" | "token";
  coordinator: string;
  command: string;
  expires_at?: string;
}

export interface UserChange {
  role?: Role;
  node_grants?: string[] | null;
  disabled?: boolean;
  password?: string;
}

function enc(s: string | number): string {
  return encodeURIComponent(String(s));
}

/** An invitation (enrollment token) not used yet, as `GET /api/v1/enrollments` lists it. */
export interface Enrollment {
  id: number;
  node_id: string | null;
  name: string | null;
  labels: Record<string, string>;
  created_by: number | null;
  created_at: string;
  expires_at: string;
}

export const adminApi = {
  enrollments: () => request<{ enrollments: Enrollment[] }>("GET", "/api/v1/enrollments"),
  withdrawEnrollment: (id: number) => request<void>("DELETE", `/api/v1/enrollments/${enc(id)}`),
  node: (node: string) => request<Node>("GET", `/api/v1/nodes/${enc(node)}`),
  registerNode: (body: NewNode) => request<Registered>("POST", "/api/v1/nodes", body),
  updateNode: (node: string, body: { name?: string; labels?: Record<string, string> }) =>
    request<Node>("PATCH", `/api/v1/nodes/${enc(node)}`, body),
  revokeNode: (node: string) =>
    request<{ node_id: string; status: string }>("DELETE", `/api/v1/nodes/${enc(node)}`),

  users: () => request<{ users: User[] }>("GET", "/api/v1/users"),
  createUser: (body: {
    username: string;
    password: string;
    role: Role;
    node_grants: string[] | null;
  }) => request<User>("POST", "/api/v1/users", body),
  updateUser: (id: number, body: UserChange) =>
    request<User>("PATCH", `/api/v1/users/${enc(id)}`, body),
  deleteUser: (id: number) => request<void>("DELETE", `/api/v1/users/${enc(id)}`),

  changePassword: (old_password: string, new_password: string) =>
    request<{ changed: boolean; sessions_ended: number }>("PATCH", "/api/v1/me/password", {
      old_password,
      new_password,
    }),
  tokens: () => request<{ tokens: ApiToken[] }>("GET", "/api/v1/tokens"),
  createToken: (name: string, expires_in: number | null) =>
    request<ApiToken & { token: string }>(
      "POST",
      "/api/v1/tokens",
      expires_in === null ? { name } : { name, expires_in },
    ),
  revokeToken: (id: number) => request<void>("DELETE", `/api/v1/tokens/${enc(id)}`),
};

/** `k=v` lines (or comma-separated) into labels; blank entries are skipped. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(/[\n,]/)) {
    const entry = part.trim();
    if (!entry) continue;
    const eq = entry.indexOf("=");
    if (eq < 0) labels[entry] = "";
    else labels[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  return labels;
}

export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** Grants as typed: empty means every node (null). */
export function parseGrants(text: string): string[] | null {
  const ids = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  return ids.length ? ids : null;
}
