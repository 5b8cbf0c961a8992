// The instances page (the DockHost flow): a user pastes or uploads an SSH public key and gets
// their own box, with the ready `ssh` line and the HTTP/HTTPS ports; start, stop and delete;
// admins see everyone's, with the node each runs on.
//
// The state shown is live without polling. An admin's store holds the instance containers
// (container events, like any container); anyone else hears of their own instances' containers
// as `instance` messages on the same socket (store.instanceEvents). The list itself is fetched
// on each (re)connect of the socket and again when an event says an instance came or went.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../api";
import { type Instance, instancesApi } from "../api-instances";
import { Confirm, ErrorLine, StateBadge } from "../components";
import { liveSince } from "../live";
import { me } from "../session";
import { containers, instanceEvents, key, nodes, version } from "../store";

const INSTANCE_LABEL = "docklord.instance";
const KEY_FIELD = "ssh_public_key";

/** An instance as last answered by the API, and when (ms): later live news wins over it. */
interface Row {
  instance: Instance;
  at: number;
}

/** The host users reach: the API names none, so the coordinator's host as this page sees it. */
export function sshHost(): string {
  return window.location.hostname.replace(/^\[(.*)\]$/, "$1");
}

export function sshCommand(port: number): string {
  return `ssh -p ${port} root@${sshHost()}`;
}

/** The instance's state from the freshest source: the live store, else the API's answer. */
function liveState(row: Row): string {
  const { instance } = row;
  if (!instance.containerId) return instance.state;
  const node = nodes.get(instance.node_id);
  if (node && node.status !== "online") return "unknown";
  const container = containers.get(key(instance.node_id, instance.containerId));
  if (container) return container.state;
  const heard = instanceEvents.get(instance.id);
  if (heard && heard.container_id === instance.containerId && heard.heard_at >= row.at) {
    return heard.removed ? "missing" : (heard.state ?? instance.state);
  }
  return instance.state;
}

/** Which instances the live store knows of: when this changes, the list is fetched again. */
function liveSignature(): string {
  const seen: string[] = [];
  for (const c of containers.values()) {
    const id = c.labels[INSTANCE_LABEL];
    if (id) seen.push(`${id}:${c.id}`);
  }
  for (const [id, heard] of instanceEvents)
    seen.push(`${id}:${heard.container_id}:${heard.removed}`);
  return seen.sort().join(",");
}

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (plain HTTP to a remote host) or no permission: the old way may work.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const [done, setDone] = useState<string | null>(null);
  const onClick = async () => {
    setDone((await copy(text)) ? "Copied" : "Select and copy");
    window.setTimeout(() => setDone(null), 1500);
  };
  return (
    <button type="button" aria-label={label} onClick={() => void onClick()}>
      {done ?? "Copy"}
    </button>
  );
}

/** A short title for the API's refusals a user can do something about. */
function titleOf(err: ApiError): string | null {
  if (err.code === "node_offline") return "No node is online.";
  if (err.code === "conflict" && err.message.includes("already have"))
    return "Quota reached: one instance per node.";
  if (err.code === "conflict" && err.message.includes("no node has room"))
    return "No node has room.";
  return null;
}

function RefusalLine({ err }: { err: ApiError }) {
  const title = titleOf(err);
  return (
    <p class="error" role="alert" data-testid="instance-error">
      {title && <strong>{title} </strong>}
      {err.message}
    </p>
  );
}

function CreateForm({ onCreated }: { onCreated: (made: Instance) => void }) {
  version.value;
  const [keyText, setKeyText] = useState("");
  const [node, setNode] = useState("");
  const [busy, setBusy] = useState(false);
  const [keyError, setKeyError] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const online = [...nodes.values()].filter((n) => n.status === "online");

  const upload = async (input: HTMLInputElement) => {
    const file = input.files?.[0];
    if (file) setKeyText((await file.text()).trim());
    input.value = "";
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setKeyError(null);
    setError(null);
    try {
      const answer = await instancesApi.create(keyText.trim(), node || null);
      setKeyText("");
      onCreated(answer.data);
    } catch (err) {
      const failure = err instanceof ApiError ? err : new ApiError(0, "error", String(err));
      const onKey = failure.fields.filter((f) => f.field === KEY_FIELD);
      if (onKey.length) setKeyError(onKey.map((f) => f.message).join("; "));
      else setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="instance-form" onSubmit={(e) => void submit(e)} aria-label="New instance">
      <label for="ssh-key">SSH public key</label>
      <textarea
        id="ssh-key"
        rows={3}
        spellcheck={false}
        placeholder="ssh-ed25519 AAAA... me@laptop"
        value={keyText}
        aria-invalid={keyError ? "true" : undefined}
        aria-describedby={keyError ? "ssh-key-error" : undefined}
        onInput={(e) => setKeyText((e.currentTarget as HTMLTextAreaElement).value)}
      />
      {keyError && (
        <p id="ssh-key-error" class="error field-error" role="alert">
          {keyError}
        </p>
      )}
      <div class="instance-form-row">
        <label>
          Or upload a .pub file{" "}
          <input
            type="file"
            accept=".pub,text/plain"
            onChange={(e) => void upload(e.currentTarget as HTMLInputElement)}
          />
        </label>
        <label>
          Node{" "}
          <select
            value={node}
            onChange={(e) => setNode((e.currentTarget as HTMLSelectElement).value)}
          >
            <option value="">any node with room</option>
            {online.map((n) => (
              <option key={n.node_id} value={n.node_id}>
                {n.name || n.node_id}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="primary" disabled={busy || !keyText.trim()}>
          {busy ? "Creating…" : "Create instance"}
        </button>
      </div>
      {error && <RefusalLine err={error} />}
    </form>
  );
}

function Ports({ instance }: { instance: Instance }) {
  const ports = instance.ports;
  if (!ports) return <p class="muted">Ports are being allocated…</p>;
  const command = sshCommand(ports.ssh);
  const host = sshHost();
  return (
    <dl>
      <dt>SSH</dt>
      <dd class="ssh-line">
        <code data-testid="ssh-command">{command}</code>
        <CopyButton text={command} label="Copy the ssh command" />
      </dd>
      <dt>HTTP</dt>
      <dd data-testid="http-port">
        {host}:{ports.http}
      </dd>
      <dt>HTTPS</dt>
      <dd data-testid="https-port">
        {host}:{ports.https}
      </dd>
    </dl>
  );
}

function InstanceCard(props: {
  row: Row;
  everyone: boolean;
  onAnswer: (made: Instance) => void;
  onDeleted: (id: string) => void;
}) {
  const { instance } = props.row;
  const state = liveState(props.row);
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const node = nodes.get(instance.node_id);
  const made = instance.containerId !== null;

  const act = async (what: "start" | "stop" | "delete") => {
    setAsking(false);
    setBusy(true);
    setError(null);
    try {
      if (what === "delete") {
        await instancesApi.remove(instance.id);
        props.onDeleted(instance.id);
      } else props.onAnswer((await instancesApi.act(instance.id, what)).data);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <article class="instance" data-testid="instance" data-instance={instance.id}>
      <header>
        <h2>
          <code>{instance.id}</code>
        </h2>
        <StateBadge state={state} />
      </header>
      <dl>
        {props.everyone && (
          <>
            <dt>Owner</dt>
            <dd data-testid="instance-owner">{instance.owner}</dd>
          </>
        )}
        <dt>Node</dt>
        <dd data-testid="instance-node">
          {node?.name ? `${node.name} (${instance.node_id})` : instance.node_id}
        </dd>
      </dl>
      <Ports instance={instance} />
      <div class="buttons">
        {made && state !== "running" && (
          <button type="button" disabled={busy} onClick={() => void act("start")}>
            Start
          </button>
        )}
        {made && state === "running" && (
          <button type="button" disabled={busy} onClick={() => void act("stop")}>
            Stop
          </button>
        )}
        {made && (
          <button type="button" class="danger" disabled={busy} onClick={() => setAsking(true)}>
            Delete
          </button>
        )}
      </div>
      <ErrorLine error={error} />
      {asking && (
        <Confirm
          text={`Delete instance ${instance.id}? Its container and everything in it are removed, and its ports are freed.`}
          confirmLabel="Delete instance"
          onConfirm={() => void act("delete")}
          onCancel={() => setAsking(false)}
        />
      )}
    </article>
  );
}

export function Instances() {
  version.value;
  const everyone = me.value?.role === "admin";
  const [rows, setRows] = useState<Row[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const signature = liveSignature();
  const loads = useRef(0);

  const since = liveSince.value;
  // Fetched on mount, on each (re)connect of the socket, and when an instance came or went.
  useEffect(() => {
    const mine = ++loads.current;
    const at = Date.now();
    instancesApi.list(everyone).then(
      ({ instances }) => {
        if (mine !== loads.current) return; // a later fetch is under way
        setRows(instances.map((instance) => ({ instance, at })));
        setLoadError(null);
      },
      (err: unknown) => setLoadError(err instanceof ApiError ? err.message : String(err)),
    );
  }, [everyone, since, signature]);

  const answered = (made: Instance) => {
    const at = Date.now();
    setRows((now) => [
      ...(now ?? []).filter((r) => r.instance.id !== made.id),
      { instance: made, at },
    ]);
  };
  const deleted = (id: string) => setRows((now) => (now ?? []).filter((r) => r.instance.id !== id));
  const list = [...(rows ?? [])].sort(
    (a, b) =>
      a.instance.owner.localeCompare(b.instance.owner) ||
      a.instance.created_at.localeCompare(b.instance.created_at),
  );

  return (
    <main class="instances-page">
      <h1>Instances</h1>
      <p class="muted">
        Your own SSH box: a container with your key in <code>/root/.ssh/authorized_keys</code>, one
        per node, with three ports (SSH, HTTP, HTTPS). Password logins are refused.
      </p>
      <CreateForm onCreated={answered} />
      <h2>{everyone ? "Everyone's instances" : "Your instances"}</h2>
      <ErrorLine error={loadError} />
      {rows !== null && list.length === 0 && (
        <p class="muted" data-testid="no-instances">
          No instance yet.
        </p>
      )}
      <div class="instances">
        {list.map((row) => (
          <InstanceCard
            key={row.instance.id}
            row={row}
            everyone={everyone}
            onAnswer={answered}
            onDeleted={deleted}
          />
        ))}
      </div>
    </main>
  );
}
