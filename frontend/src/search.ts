// Instant fuzzy search over the live store: every term of the query must match one field
// (name, image, id, node, label key=value) as a substring or, failing that, as a subsequence.
// Substring hits rank above subsequence hits.

import type { Container } from "./types";

function fields(c: Container): string[] {
  return [
    c.name,
    c.image,
    c.id,
    c.node_id,
    ...Object.entries(c.labels).map(([k, v]) => `${k}=${v}`),
  ].map((f) => f.toLowerCase());
}

function subsequence(needle: string, hay: string): boolean {
  let i = 0;
  for (let j = 0; j < hay.length && i < needle.length; j++) if (hay[j] === needle[i]) i++;
  return i === needle.length;
}

/** A score (higher is better) or -1 when `c` does not match `query`. */
export function score(c: Container, query: string): number {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (terms.length === 0) return 0;
  const hay = fields(c);
  let total = 0;
  for (const term of terms) {
    if (hay.some((f) => f.startsWith(term))) total += 3;
    else if (hay.some((f) => f.includes(term))) total += 2;
    else if (hay.some((f) => subsequence(term, f))) total += 1;
    else return -1;
  }
  return total;
}
