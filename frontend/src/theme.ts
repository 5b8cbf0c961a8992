// Dark, light or auto (the system's choice), kept in this browser.

import { signal } from "@preact/signals";

export type Theme = "auto" | "light" | "dark";

const KEY = "docklord.theme";
const stored = window.localStorage.getItem(KEY);
export const theme = signal<Theme>(stored === "light" || stored === "dark" ? stored : "auto");

export function setTheme(next: Theme): void {
  theme.value = next;
  window.localStorage.setItem(KEY, next);
  apply();
}

function apply(): void {
  if (theme.value === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme.value;
}

apply();
