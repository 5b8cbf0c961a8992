import { signal } from "@preact/signals";
import type { Container, Port } from "./types";

/** The clock views read for "how long ago"; ticking re-renders only, it fetches nothing. */
export const now = signal(Date.now());
window.setInterval(() => {
  now.value = Date.now();
}, 1000);

export function ago(ms: number | null | undefined, at: number): string {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((at - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function bytes(n: number | undefined): string {
  if (n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function percent(n: number | undefined): string {
  return n === undefined ? "" : `${n.toFixed(1)}%`;
}

export function port(p: Port): string {
  const inner = `${p.private_port}/${p.protocol}`;
  return p.host_port ? `${p.host_ip ?? ""}${p.host_ip ? ":" : ""}${p.host_port}→${inner}` : inner;
}

export function ports(c: Container): string {
  return c.ports.map(port).join(", ");
}

export function date(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : "";
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}
