import { Fragment } from "preact";
import { useEffect, useState } from "preact/hooks";
import { actionsFor, type ContainerAction, DESTRUCTIVE, run } from "../actions";
import { ApiError, api } from "../api";
import { Confirm, ErrorLine, StateBadge } from "../components";
import { bytes, date, percent, port, shortId } from "../format";
import { mayOperate, me } from "../session";
import { findContainer, version } from "../store";
import type { ContainerDetails, Container as Row } from "../types";
import { Charts } from "./Charts";
import { Terminal } from "./Terminal";

function TerminalToggle({ c }: { c: Row }) {
  const [open, setOpen] = useState(false);
  if (!mayOperate() || c.state !== "running") return null;
  if (open) return <Terminal c={c} />;
  return (
    <button type="button" onClick={() => setOpen(true)}>
      Open terminal
    </button>
  );
}

function KeyValues({ title, data }: { title: string; data: Record<string, unknown> }) {
  const entries = Object.entries(data);
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {entries.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <dl class="kv">
          {entries.map(([k, v]) => (
            <Fragment key={k}>
              <dt>{k}</dt>
              <dd>{typeof v === "string" ? v : JSON.stringify(v)}</dd>
            </Fragment>
          ))}
        </dl>
      )}
    </section>
  );
}

function Actions({ c }: { c: Row }) {
  const [pending, setPending] = useState<ContainerAction | null>(null);
  const [asking, setAsking] = useState<ContainerAction | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!mayOperate()) return null;

  async function go(action: ContainerAction) {
    setAsking(null);
    setPending(action);
    setError(null);
    try {
      await run(c, action);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setPending(null);
    }
  }

  return (
    <div class="actions" role="toolbar" aria-label="Actions">
      {actionsFor(c.state).map((a) => (
        <button
          key={a}
          type="button"
          class={DESTRUCTIVE.has(a) ? "danger" : ""}
          disabled={pending !== null}
          onClick={() => (DESTRUCTIVE.has(a) ? setAsking(a) : go(a))}
        >
          {a[0]?.toUpperCase()}
          {a.slice(1)}
          {pending === a ? "…" : ""}
        </button>
      ))}
      <ErrorLine error={error} />
      {asking && (
        <Confirm
          text={
            asking === "remove"
              ? `Remove container ${c.name} on ${c.node_id}${c.state === "running" ? " (it is running: it is killed first)" : ""}?`
              : `Kill container ${c.name} on ${c.node_id} (SIGKILL)?`
          }
          confirmLabel={asking === "remove" ? "Remove" : "Kill"}
          onConfirm={() => go(asking)}
          onCancel={() => setAsking(null)}
        />
      )}
    </div>
  );
}

function useDetails(node: string, id: string | undefined, state: string | undefined) {
  const [details, setDetails] = useState<ContainerDetails | null>(null);
  const [error, setError] = useState<string | null>(null);
  const raw = mayOperate();
  // Fetched when the page opens and when the state changes (an event said so): never on a timer.
  useEffect(() => {
    if (!id) return;
    let current = true;
    api.inspect(node, id, raw).then(
      (d) => current && setDetails(d),
      (err: unknown) => current && setError(err instanceof ApiError ? err.message : String(err)),
    );
    return () => {
      current = false;
    };
  }, [node, id, state, raw]);
  return { details, error };
}

export function Container({ node, reference }: { node: string; reference: string }) {
  version.value;
  const c = findContainer(node, reference);
  const { details, error } = useDetails(node, c?.id, c?.state);
  if (!c) {
    return (
      <main>
        <h1>{reference}</h1>
        <p class="muted" data-testid="container-missing">
          No container {reference} on node {node} (removed, or not visible to {me.value?.username}).
        </p>
      </main>
    );
  }
  const env = (details?.config.env ?? {}) as Record<string, string>;
  return (
    <main data-testid="container-page" data-state={c.state}>
      <header class="page-head">
        <h1>{c.name}</h1>
        <StateBadge state={c.state} />
      </header>
      <Actions c={c} />
      <p>
        <a
          href={`/logs?node=${encodeURIComponent(c.node_id)}&container=${encodeURIComponent(c.id)}`}
        >
          Logs
        </a>
      </p>
      <section aria-label="Summary">
        <dl class="kv">
          <dt>Node</dt>
          <dd>{c.node_id}</dd>
          <dt>Id</dt>
          <dd title={c.id}>{shortId(c.id)}</dd>
          <dt>Image</dt>
          <dd>{c.image}</dd>
          <dt>Command</dt>
          <dd>
            <code>{c.command}</code>
          </dd>
          <dt>Status</dt>
          <dd>{c.status}</dd>
          <dt>Created</dt>
          <dd>{date(c.created)}</dd>
          <dt>Started</dt>
          <dd>{date(c.started_at)}</dd>
          {c.finished_at && (
            <>
              <dt>Finished</dt>
              <dd>
                {date(c.finished_at)} (exit code {c.exit_code ?? "?"})
              </dd>
            </>
          )}
          {c.cpu_percent !== undefined && (
            <>
              <dt>CPU</dt>
              <dd>{percent(c.cpu_percent)}</dd>
              <dt>Memory</dt>
              <dd>{bytes(c.memory_usage)}</dd>
            </>
          )}
        </dl>
      </section>
      {c.state === "running" && <Charts c={c} />}
      <TerminalToggle c={c} />
      <section aria-label="Ports">
        <h2>Ports</h2>
        {c.ports.length === 0 ? (
          <p class="muted">none</p>
        ) : (
          <ul>
            {c.ports.map((p) => (
              <li key={port(p)}>{port(p)}</li>
            ))}
          </ul>
        )}
      </section>
      <KeyValues title="Labels" data={c.labels} />
      <ErrorLine error={error} />
      {details && (
        <>
          <KeyValues title="Environment" data={env} />
          <section aria-label="Mounts">
            <h2>Mounts</h2>
            {details.mounts.length === 0 ? (
              <p class="muted">none</p>
            ) : (
              <ul>
                {details.mounts.map((m) => (
                  <li key={JSON.stringify(m)}>
                    <code>{String(m.type ?? "")}</code> {String(m.source ?? m.name ?? "")} →{" "}
                    {String(m.destination ?? "")}
                    {m.rw === false ? " (read-only)" : ""}
                  </li>
                ))}
              </ul>
            )}
          </section>
          <details class="inspect">
            <summary>Inspect</summary>
            <pre>{JSON.stringify(details.raw ?? details, null, 2)}</pre>
          </details>
        </>
      )}
    </main>
  );
}
