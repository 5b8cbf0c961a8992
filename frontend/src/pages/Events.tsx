// The fleet event timeline: every engine event of every node, newest first, filterable from
// the URL. It opens with the recent events the coordinator's journals hold (GET
// /api/v1/events, once the socket's snapshot is in, so that the socket brings every later
// one), then goes on live; the store lists each event once, however it came. Each container
// event links to its logs, and to its logs around the event's time.

import { useEffect, useState } from "preact/hooks";
import { ApiError, request } from "../api";
import { ErrorLine } from "../components";
import { date } from "../format";
import { containerPath, location, setParams } from "../router";
import { addHistory, hasSnapshot, timeline, version } from "../store";
import type { StreamMessage } from "../types";

/** How many of the recent events the page asks for. */
const HISTORY = 500;

type Recent = { events: Extract<StreamMessage, { kind: "event" }>[]; seq: Record<string, number> };

/** Loads the recent events once the socket has its snapshot: "loading", "", or the API's
 * message. */
function useHistory(ready: boolean): string {
  const [state, setState] = useState("loading");
  useEffect(() => {
    if (!ready || state !== "loading") return;
    let gone = false;
    request<Recent>("GET", `/api/v1/events?limit=${HISTORY}`)
      .then((recent) => {
        addHistory(recent.events);
        if (!gone) setState("");
      })
      .catch((e: unknown) => {
        if (!gone) setState(e instanceof ApiError ? e.message : String(e));
      });
    return () => {
      gone = true;
    };
  }, [ready, state]);
  return state;
}

export function Events() {
  version.value;
  const history = useHistory(hasSnapshot());
  const q = (location.value.searchParams.get("q") ?? "").toLowerCase();
  const entries = timeline
    .filter(
      (e) =>
        !q ||
        [e.node_id, e.type, e.action, e.name, e.actor_id].some((f) => f.toLowerCase().includes(q)),
    )
    .slice(-500)
    .reverse();
  return (
    <main>
      <h1>Events</h1>
      <div class="toolbar">
        <input
          type="search"
          aria-label="Filter events"
          placeholder="Filter: node, type, action, container"
          value={q}
          onInput={(e) => setParams({ q: (e.currentTarget as HTMLInputElement).value })}
        />
        <span class="muted" data-testid="events-count">
          {timeline.length} events{history === "loading" ? " (loading the recent ones)" : ""}
        </span>
      </div>
      {history && history !== "loading" && <ErrorLine error={history} />}
      <div class="table-wrap">
        <table class="containers">
          <thead>
            <tr>
              <th>Time</th>
              <th>Node</th>
              <th>Type</th>
              <th>Action</th>
              <th>Object</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={`${e.node_id}/${e.seq}`} data-testid="event" data-action={e.action}>
                <td class="muted">{date(e.time)}</td>
                <td>{e.node_id}</td>
                <td>{e.type}</td>
                <td>{e.action}</td>
                <td>
                  {e.type === "container" ? (
                    <>
                      <a href={containerPath(e.node_id, e.actor_id)}>{e.name}</a>{" "}
                      <a
                        class="muted"
                        href={`/logs?node=${encodeURIComponent(e.node_id)}&container=${encodeURIComponent(e.actor_id)}`}
                      >
                        logs
                      </a>{" "}
                      {e.time && (
                        <a
                          class="muted"
                          href={aroundPath(e.node_id, e.actor_id, e.time)}
                          title="The container's logs from a minute before this event to a minute after"
                        >
                          around
                        </a>
                      )}
                    </>
                  ) : (
                    e.name
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {entries.length === 0 && <p class="muted">No event yet.</p>}
    </main>
  );
}

/** The container's logs from a minute before `time` to a minute after, showing `time`. */
function aroundPath(node: string, id: string, time: string): string {
  const t = Date.parse(time) / 1000;
  const q = new URLSearchParams({
    node,
    container: id,
    since: (t - 60).toFixed(3),
    until: (t + 60).toFixed(3),
    at: time,
  });
  return `/logs?${q}`;
}
