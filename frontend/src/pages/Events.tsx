// The fleet event timeline: every engine event of every node, live, as the events socket
// delivers them (from when this page was opened; newest first), filterable from the URL.

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
                      </a>
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
