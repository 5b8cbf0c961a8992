// Container actions as the API allows them: which ones a state offers, and running them. The
// state shown afterwards comes from the events socket, never from the answer to the click.

import { type Action, ApiError, api } from "./api";
import type { Container } from "./types";

export type ContainerAction = Action | "remove";

/** The actions that make sense in `state` (the engine refuses the others). */
export function actionsFor(state: string): ContainerAction[] {
  switch (state) {
    case "running":
      return ["stop", "restart", "pause", "kill", "remove"];
    case "paused":
      return ["unpause", "kill", "remove"];
    case "restarting":
      return ["stop", "kill", "remove"];
    default:
      return ["start", "restart", "remove"];
  }
}

/** Actions that ask for confirmation first. */
export const DESTRUCTIVE: ReadonlySet<ContainerAction> = new Set(["kill", "remove"]);

export async function run(c: Container, action: ContainerAction): Promise<void> {
  if (action === "remove")
    await api.remove(c.node_id, c.id, c.state !== "exited" && c.state !== "created");
  else await api.act(c.node_id, c.id, action);
}

export interface BulkResult {
  container: Container;
  error: string | null;
}

export async function runMany(items: Container[], action: Action): Promise<BulkResult[]> {
  return Promise.all(
    items.map(async (container) => {
      try {
        await api.act(container.node_id, container.id, action);
        return { container, error: null };
      } catch (err) {
        return { container, error: err instanceof ApiError ? err.message : String(err) };
      }
    }),
  );
}
