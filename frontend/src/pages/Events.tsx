// The fleet event timeline: every engine event of every node, live, as the events socket
// delivers them (from when this page was opened; newest first), filterable from the URL. Each
// container event links to its logs, and to its logs around the event's time.

import { date } from "../format";
import { containerPath, location, setParams } from "../router";
import { timeline, version } from "../store";

export function Events() {
  version.value;
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
        <span class="muted">{timeline.length} events since this page opened</span>
      </div>
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
