// A small history router: the location is a signal; links navigate without a reload. Deep
// links work because the coordinator answers index.html for every UI path (docklord/web/_ui.py).

import { signal } from "@preact/signals";

export const location = signal(new URL(window.location.href));

export function navigate(to: string, replace = false): void {
  const next = new URL(to, window.location.origin);
  if (next.href === window.location.href) return;
  if (replace) window.history.replaceState(null, "", next);
  else window.history.pushState(null, "", next);
  location.value = next;
}

/** Change some query parameters of the current URL (filters live in the URL). */
export function setParams(changes: Record<string, string | null>): void {
  const next = new URL(location.value.href);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === "") next.searchParams.delete(k);
    else next.searchParams.set(k, v);
  }
  navigate(next.pathname + next.search, true);
}

window.addEventListener("popstate", () => {
  location.value = new URL(window.location.href);
});

/** Same-origin <a> clicks navigate in place (but downloads, the API and data-external links
 * are the browser's). */
document.addEventListener("click", (event) => {
  const target = (event.target as Element | null)?.closest?.("a");
  if (!target || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const href = target.getAttribute("href");
  if (!href?.startsWith("/") || href.startsWith("/api/") || target.target) return;
  if (target.hasAttribute("data-external") || target.hasAttribute("download")) return;
  event.preventDefault();
  navigate(href);
});

export function containerPath(node: string, id: string): string {
  return `/containers/${encodeURIComponent(node)}/${encodeURIComponent(id)}`;
}
