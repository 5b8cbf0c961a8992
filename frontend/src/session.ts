// Who is signed in. The session itself is the API's httpOnly cookie; this only mirrors /me.

import { signal } from "@preact/signals";
import { ApiError, api, type Me } from "./api";
import { startLive, stopLive } from "./live";
import { clearStore } from "./store";

/** undefined: not known yet; null: signed out. */
export const me = signal<Me | null | undefined>(undefined);

export function mayOperate(): boolean {
  const role = me.value?.role;
  return role === "operator" || role === "admin";
}

function signedOut(): void {
  stopLive();
  clearStore();
  me.value = null;
}

export async function loadSession(): Promise<void> {
  try {
    me.value = await api.me();
    startLive(signedOut);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) me.value = null;
    else throw err;
  }
}

export async function signIn(username: string, password: string): Promise<void> {
  await api.login(username, password);
  await loadSession();
}

export async function signOut(): Promise<void> {
  try {
    await api.logout();
  } finally {
    signedOut();
  }
}
