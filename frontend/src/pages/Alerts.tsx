// Alerts (admin): current and past alerts with their delivery attempts, live from the events
// socket ({"kind": "alert"} and {"kind": "alert_delivery"}); the rules and channels editors
// (a channel can be test-sent and edited; its URL is never shown, and kept unless a new one is
// typed). Rules and
// channels are read again when the audit feed says one changed, from this page or elsewhere.

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../api";
import {
  type Alert,
  type AlertFrame,
  alertOf,
  alertsApi,
  type Channel,
  type DeliveryFrame,
  firing,
  firingMore,
  KINDS,
  type Kind,
  type NewChannel,
  NODE_KINDS,
  type Rule,
  type RuleBody,
  type TestResult,
} from "../api-alerts";
import { ErrorLine, useConfirm } from "../components";
import { date } from "../format";
import { FormEnd, type Submit, useSubmit } from "../forms";
import { socketState, useMessages } from "../live";
import { location, setParams } from "../router";
import { ListTable, RowButton } from "../table";

function message(err: unknown): string {
  if (!(err instanceof ApiError)) return String(err);
  // The API's 422 lists each field; the client keeps them when it carries `fields`.
  const fields = (err as ApiError & { fields?: { field: string; message: string }[] }).fields;
  return fields?.length
    ? `${err.message}: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`
    : err.message;
}

/** The header's bell: how many alerts fire now, live. */
export function AlertBell() {
  const count = firing.value.size;
  const text = `${count}${firingMore.value ? "+" : ""}`;
  return (
    <a
      href="/alerts?state=firing"
      class={`bell${count ? " bell-firing" : ""}`}
      data-testid="alert-bell"
      data-count={count}
      aria-label={`${text} firing alerts`}
      title={`${text} firing alerts`}
    >
      <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
        <path
          fill="currentColor"
          d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z"
        />
      </svg>
      <span>{text}</span>
    </a>
  );
}

// ---- alerts ---------------------------------------------------------------------------------

type StateFilter = "" | "firing" | "resolved";

function useAlerts(state: StateFilter) {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const wanted = useRef(state);
  wanted.current = state;
  const live = socketState.value === "live";

  useEffect(() => {
    alertsApi.alerts(state).then(
      (page) => {
        if (wanted.current !== state) return;
        setAlerts(page.alerts);
        setNext(page.next_before_id);
        setError(null);
      },
      (err: unknown) => setError(message(err)),
    );
  }, [state, live]);

  useMessages((m) => {
    if (m.kind === "alert") {
      const frame = m as AlertFrame;
      setAlerts((prev) => {
        const before = prev.find((a) => a.id === frame.id);
        const rest = prev.filter((a) => a.id !== frame.id);
        const alert = alertOf(frame, before);
        if (wanted.current && alert.state !== wanted.current) return rest;
        return [alert, ...rest].sort((a, b) => b.id - a.id);
      });
    } else if (m.kind === "alert_delivery") {
      const { kind: _, alert_id, ...delivery } = m as DeliveryFrame;
      setAlerts((prev) =>
        prev.map((a) =>
          a.id === alert_id ? { ...a, deliveries: [...a.deliveries, delivery] } : a,
        ),
      );
    }
  });

  async function more() {
    if (next === null) return;
    try {
      const page = await alertsApi.alerts(state, next);
      setAlerts((prev) => [...prev, ...page.alerts]);
      setNext(page.next_before_id);
    } catch (err) {
      setError(message(err));
    }
  }
  return { alerts, next, error, more };
}

function AlertItem({ a, channels }: { a: Alert; channels: Map<number, Channel> }) {
  return (
    <li
      class={`alert alert-${a.state}`}
      data-testid="alert-row"
      data-state={a.state}
      data-rule={a.rule}
    >
      <div class="alert-head">
        <span class={`state state-${a.state === "firing" ? "exited" : "running"}`}>{a.state}</span>
        <strong>{a.rule}</strong>
        <span class="muted">{a.kind}</span>
      </div>
      <p>{a.summary}</p>
      <p class="muted">
        fired {date(a.fired_at)}
        {a.resolved_at && ` · resolved ${date(a.resolved_at)}`}
        {typeof a.details.resolved_reason === "string" && ` (${a.details.resolved_reason})`}
      </p>
      {a.deliveries.length > 0 ? (
        <ul class="deliveries" aria-label="Delivery attempts">
          {a.deliveries.map((d) => (
            <li
              key={`${d.channel_id}/${d.event}/${d.attempt}`}
              data-testid="delivery"
              data-ok={d.ok}
              class={d.ok ? "delivery-ok" : "delivery-failed"}
            >
              {channels.get(d.channel_id)?.name ?? `channel ${d.channel_id}`} · {d.event} · attempt{" "}
              {d.attempt} · {d.ok ? "delivered" : "failed"}
              {d.status_code !== null && ` (HTTP ${d.status_code})`}
              {d.error && ` (${d.error})`} · {date(d.time)}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">No delivery attempt yet.</p>
      )}
    </li>
  );
}

function AlertList({ channels }: { channels: Map<number, Channel> }) {
  const raw = location.value.searchParams.get("state");
  const state: StateFilter = raw === "firing" || raw === "resolved" ? raw : "";
  const list = useAlerts(state);
  return (
    <section aria-labelledby="alerts-title">
      <div class="page-head">
        <h2 id="alerts-title">Alerts</h2>
        <label>
          <span class="sr-only">Show</span>
          <select
            aria-label="Show alerts"
            value={state}
            onChange={(e) => setParams({ state: (e.currentTarget as HTMLSelectElement).value })}
          >
            <option value="">current and past</option>
            <option value="firing">firing</option>
            <option value="resolved">resolved</option>
          </select>
        </label>
      </div>
      <ErrorLine error={list.error} />
      <ul class="alert-list">
        {list.alerts.map((a) => (
          <AlertItem key={a.id} a={a} channels={channels} />
        ))}
      </ul>
      {list.alerts.length === 0 && <p class="muted">No alert.</p>}
      {list.next !== null && (
        <button type="button" onClick={() => void list.more()}>
          Older alerts
        </button>
      )}
    </section>
  );
}

// ---- rules ----------------------------------------------------------------------------------

function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(",")) {
    const t = item.trim();
    if (!t) continue;
    const at = t.indexOf("=");
    if (at < 0) out[t] = "*";
    else out[t.slice(0, at).trim()] = t.slice(at + 1).trim();
  }
  return out;
}

function selectorText(r: Rule): string {
  const parts: string[] = [];
  if (r.selector.nodes.length) parts.push(`nodes ${r.selector.nodes.join(", ")}`);
  if (r.selector.name) parts.push(`name ${r.selector.name}`);
  if (Object.keys(r.selector.labels).length) parts.push(`labels ${labelsText(r.selector.labels)}`);
  return parts.join("; ") || "everything";
}

function paramsText(r: Rule): string {
  return KINDS[r.kind]
    .filter((p) => r[p.name] !== undefined && r[p.name] !== null)
    .map((p) => `${p.name} ${String(r[p.name])}`)
    .join(", ");
}

function ruleBody(form: HTMLFormElement, kind: Kind, editing: boolean): Partial<RuleBody> {
  const data = new FormData(form);
  const text = (k: string) => String(data.get(k) ?? "").trim();
  const body: Partial<RuleBody> = {
    name: text("name"),
    enabled: data.get("enabled") === "on",
    selector: {
      nodes: text("nodes")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      name: text("glob") || null,
      labels: parseLabels(text("labels")),
    },
    channels: data.getAll("channels").map(Number),
  };
  if (!editing) body.kind = kind;
  for (const p of KINDS[kind]) {
    const v = text(p.name);
    // On an edit, an emptied parameter goes back to its default (null).
    if (v) body[p.name] = p.type === "number" ? Number(v) : v;
    else if (editing) body[p.name] = null;
  }
  return body;
}

/** The frame of the rule and channel forms: the name first, the error and buttons last. */
function AlertForm(props: {
  label: string;
  name: string | undefined;
  submit: Submit;
  text: string;
  done: () => void;
  children: ComponentChildren;
}) {
  return (
    <form class="alert-form" aria-label={props.label} onSubmit={props.submit.onSubmit}>
      <label>
        Name
        <input name="name" required maxLength={100} defaultValue={props.name ?? ""} />
      </label>
      {props.children}
      <FormEnd submit={props.submit} text={props.text} cancel={props.done} />
    </form>
  );
}

function RuleForm(props: { rule: Rule | null; channels: Channel[]; done: () => void }) {
  const { rule } = props;
  const [kind, setKind] = useState<Kind>(rule?.kind ?? "container_died");
  const submit = useSubmit(async (form) => {
    const body = ruleBody(form, kind, rule !== null);
    if (rule) await alertsApi.updateRule(rule.id, body);
    else await alertsApi.createRule(body);
    props.done();
  }, message);
  const nodeKind = NODE_KINDS.has(kind);
  return (
    <AlertForm
      label={rule ? `Edit rule ${rule.name}` : "New rule"}
      name={rule?.name}
      submit={submit}
      text={rule ? "Save rule" : "Create rule"}
      done={props.done}
    >
      <label>
        Kind
        <select
          name="kind"
          value={kind}
          disabled={rule !== null}
          onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as Kind)}
        >
          {Object.keys(KINDS).map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
      </label>
      <label class="check">
        <input type="checkbox" name="enabled" defaultChecked={rule?.enabled ?? true} /> Enabled
      </label>
      <label>
        Nodes (ids or globs, comma-separated; empty: all)
        <input name="nodes" defaultValue={rule?.selector.nodes.join(", ") ?? ""} />
      </label>
      <label>
        {nodeKind ? "Node name (glob)" : "Container name (glob)"}
        <input name="glob" defaultValue={rule?.selector.name ?? ""} />
      </label>
      <label>
        Labels (key=value or key, comma-separated)
        <input name="labels" defaultValue={rule ? labelsText(rule.selector.labels) : ""} />
      </label>
      {KINDS[kind].map((p) => {
        const given = rule?.[p.name];
        const shown = given === undefined || given === null ? "" : String(given);
        const hint = p.default ? `default ${p.default}` : "";
        return (
          <label key={`${kind}/${p.name}`} htmlFor={`rule-${p.name}`}>
            {p.label}
            {p.type === "number" ? (
              <input
                name={p.name}
                type="number"
                step="any"
                placeholder={hint}
                defaultValue={shown}
              />
            ) : (
              <input
                id={`rule-${p.name}`}
                name={p.name}
                required={p.required}
                placeholder={hint}
                defaultValue={shown}
              />
            )}
          </label>
        );
      })}
      <fieldset>
        <legend>Channels</legend>
        {props.channels.length === 0 && <span class="muted">No channel yet: add one below.</span>}
        {props.channels.map((c) => (
          <label class="check" key={c.id}>
            <input
              type="checkbox"
              name="channels"
              value={c.id}
              defaultChecked={rule?.channels.includes(c.id) ?? false}
            />{" "}
            {c.name}
          </label>
        ))}
      </fieldset>
    </AlertForm>
  );
}

function Rules(props: { rules: Rule[]; channels: Channel[]; reload: () => void }) {
  const [editing, setEditing] = useState<Rule | "new" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const byId = new Map(props.channels.map((c) => [c.id, c.name]));
  const remove = useConfirm<Rule>({
    text: (r) => `Delete rule ${r.name}? Its open alerts resolve; past ones stay.`,
    confirmLabel: "Delete",
    run: async (r) => {
      await alertsApi.deleteRule(r.id);
      props.reload();
    },
    fail: (err) => setError(message(err)),
  });
  return (
    <section aria-labelledby="rules-title">
      <div class="page-head">
        <h2 id="rules-title">Rules</h2>
        {editing === null && (
          <button type="button" onClick={() => setEditing("new")}>
            New rule
          </button>
        )}
      </div>
      {editing !== null && (
        <RuleForm
          key={editing === "new" ? "new" : editing.id}
          rule={editing === "new" ? null : editing}
          channels={props.channels}
          done={() => {
            setEditing(null);
            props.reload();
          }}
        />
      )}
      <ListTable
        class="containers"
        columns={["Name", "Kind", "Applies to", "Parameters", "Channels"]}
        actions
        items={props.rules}
        error={error}
        empty="No rule yet."
        row={(r) => (
          <tr key={r.id} data-testid="rule-row" data-name={r.name}>
            <td>
              {r.name} {!r.enabled && <span class="muted">(disabled)</span>}
            </td>
            <td>{r.kind}</td>
            <td class="wrap">{selectorText(r)}</td>
            <td class="wrap">{paramsText(r)}</td>
            <td class="wrap">{r.channels.map((id) => byId.get(id) ?? id).join(", ")}</td>
            <td>
              <RowButton label={`Edit rule ${r.name}`} onClick={() => setEditing(r)}>
                Edit
              </RowButton>{" "}
              <RowButton label={`Delete rule ${r.name}`} danger onClick={() => remove.ask(r)}>
                Delete
              </RowButton>
            </td>
          </tr>
        )}
      />
      {remove.dialog}
    </section>
  );
}

// ---- channels -------------------------------------------------------------------------------

function ChannelForm(props: { channel: Channel | null; done: () => void }) {
  const c = props.channel;
  const submit = useSubmit(async (form) => {
    const data = new FormData(form);
    const body: NewChannel = {
      name: String(data.get("name") ?? "").trim(),
      type: data.get("type") === "slack" ? "slack" : "webhook",
      url: String(data.get("url") ?? "").trim(),
      timeout: Number(data.get("timeout")),
      max_attempts: Number(data.get("max_attempts")),
      backoff: Number(data.get("backoff")),
    };
    if (c === null) await alertsApi.createChannel(body);
    else {
      // An empty URL keeps the stored one (nobody can read it to send it back).
      const { url, ...rest } = body;
      await alertsApi.updateChannel(c.id, url ? body : rest);
    }
    props.done();
  }, message);
  return (
    <AlertForm
      label={c ? `Edit channel ${c.name}` : "New channel"}
      name={c?.name}
      submit={submit}
      text={c ? "Save channel" : "Create channel"}
      done={props.done}
    >
      <label>
        Type
        <select name="type" defaultValue={c?.type ?? "webhook"}>
          <option value="webhook">webhook (JSON)</option>
          <option value="slack">slack (Slack, Mattermost, Rocket.Chat)</option>
        </select>
      </label>
      <label>
        {c ? "New URL (empty: keep the secret one)" : "URL (kept secret: never shown again)"}
        <input
          name="url"
          type="url"
          required={c === null}
          autocomplete="off"
          placeholder={c ? `unchanged (${c.receiver}…)` : ""}
        />
      </label>
      <label>
        Timeout (s)
        <input
          name="timeout"
          type="number"
          step="any"
          min="0.05"
          max="120"
          defaultValue={String(c?.timeout ?? 10)}
        />
      </label>
      <label>
        Attempts
        <input
          name="max_attempts"
          type="number"
          min="1"
          max="20"
          defaultValue={String(c?.max_attempts ?? 5)}
        />
      </label>
      <label>
        Backoff (s, doubling)
        <input
          name="backoff"
          type="number"
          step="any"
          min="0.01"
          max="300"
          defaultValue={String(c?.backoff ?? 2)}
        />
      </label>
    </AlertForm>
  );
}

function testText(r: TestResult): string {
  if (r.ok) return `delivered (HTTP ${r.status_code})`;
  return `failed: ${r.error ?? `HTTP ${r.status_code}`}`;
}

function Channels(props: { channels: Channel[]; reload: () => void }) {
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<Channel | null>(null);
  const [tests, setTests] = useState<Record<number, string>>({});
  const [error, setError] = useState<string | null>(null);
  async function test(c: Channel) {
    setTests((t) => ({ ...t, [c.id]: "sending…" }));
    try {
      const result = await alertsApi.testChannel(c.id);
      setTests((t) => ({ ...t, [c.id]: testText(result) }));
    } catch (err) {
      setTests((t) => ({ ...t, [c.id]: `failed: ${message(err)}` }));
    }
  }
  const remove = useConfirm<Channel>({
    text: (c) => `Delete channel ${c.name}? Rules naming it no longer send there.`,
    confirmLabel: "Delete",
    run: async (c) => {
      await alertsApi.deleteChannel(c.id);
      props.reload();
    },
    fail: (err) => setError(message(err)),
  });
  return (
    <section aria-labelledby="channels-title">
      <div class="page-head">
        <h2 id="channels-title">Channels</h2>
        {!adding && (
          <button type="button" onClick={() => setAdding(true)}>
            New channel
          </button>
        )}
      </div>
      {adding && (
        <ChannelForm
          channel={null}
          done={() => {
            setAdding(false);
            props.reload();
          }}
        />
      )}
      {editing && (
        <ChannelForm
          key={editing.id}
          channel={editing}
          done={() => {
            setEditing(null);
            props.reload();
          }}
        />
      )}
      <ListTable
        class="containers"
        columns={["Name", "Type", "Receiver", "Retries"]}
        actions
        items={props.channels}
        error={error}
        empty="No channel yet."
        row={(c) => (
          <tr key={c.id} data-testid="channel-row" data-name={c.name}>
            <td>{c.name}</td>
            <td>{c.type}</td>
            <td class="wrap">{c.receiver}</td>
            <td class="muted">
              {c.max_attempts} × {c.timeout}s, backoff {c.backoff}s
            </td>
            <td>
              <RowButton label={`Test channel ${c.name}`} onClick={() => void test(c)}>
                Test
              </RowButton>{" "}
              <RowButton label={`Edit channel ${c.name}`} onClick={() => setEditing(c)}>
                Edit
              </RowButton>{" "}
              <RowButton label={`Delete channel ${c.name}`} danger onClick={() => remove.ask(c)}>
                Delete
              </RowButton>
              {tests[c.id] && (
                <output class="muted" data-testid="channel-test">
                  {" "}
                  {tests[c.id]}
                </output>
              )}
            </td>
          </tr>
        )}
      />
      <p class="muted">
        A channel's URL is a secret: it is never shown again; editing a channel keeps it unless you
        type a new one.
      </p>
      {remove.dialog}
    </section>
  );
}

// ---- the page -------------------------------------------------------------------------------

function useConfig() {
  const [rules, setRules] = useState<Rule[]>([]);
  const [channels, setChannels] = useState<Channel[]>([]);
  const [error, setError] = useState<string | null>(null);
  const live = socketState.value === "live";
  function reload() {
    Promise.all([alertsApi.rules(), alertsApi.channels()]).then(
      ([r, c]) => {
        setRules(r.rules);
        setChannels(c.channels);
        setError(null);
      },
      (err: unknown) => setError(message(err)),
    );
  }
  useEffect(reload, [live]);
  // Another admin's change shows up in the audit feed: read the rules and channels again.
  useMessages((m: { kind: string; action?: string }) => {
    if (m.kind === "audit" && /^alert_(rule|channel)\.(create|update|delete)$/.test(m.action ?? ""))
      reload();
  });
  return { rules, channels, error, reload };
}

export function Alerts() {
  const config = useConfig();
  const channels = new Map(config.channels.map((c) => [c.id, c]));
  return (
    <main class="alerts-page">
      <h1>Alerts</h1>
      <ErrorLine error={config.error} />
      <AlertList channels={channels} />
      <Rules rules={config.rules} channels={config.channels} reload={config.reload} />
      <Channels channels={config.channels} reload={config.reload} />
    </main>
  );
}
