// Create / run a container on a chosen node (POST /api/v1/nodes/{node}/containers). The API
// has the last word on every field: its 422 messages go back next to the inputs they name.

import { useEffect, useState } from "preact/hooks";
import { ApiError } from "../api";
import { createApi, type RestartPolicy } from "../api-create";
import {
  type Built,
  build,
  dockerRun,
  EMPTY_FORM,
  type Form,
  mergePairs,
  placeOf,
  slotsOf,
} from "../create-form";
import { containerPath, location, navigate, setParams } from "../router";
import { mayOperate, me } from "../session";
import { nodes, timeline, version } from "../store";
import {
  CopyLine,
  checked,
  DotEnvPaste,
  MountRows,
  messagesOf,
  Options,
  PairsEditor,
  type Placed,
  PortRows,
  Section,
  TextField,
  value,
} from "./CreateRows";

interface Attempt {
  placed: Placed;
  /** What has no place in the form, and every error that is not a 422. */
  general: string[];
}

const NO_ATTEMPT: Attempt = { placed: {}, general: [] };
const RESOURCE_EVENTS = new Set(["image", "volume", "network"]);

function attemptOf(err: unknown, built: Built, form: Form): Attempt {
  if (!(err instanceof ApiError)) return { placed: {}, general: [String(err)] };
  if (err.fields.length === 0) return { placed: {}, general: [err.message] };
  const slots = slotsOf(form);
  const placed: Placed = {};
  const general: string[] = [];
  for (const { field, message } of err.fields) {
    const at = placeOf(field, built, slots);
    if (at === null) general.push(`${field || "body"}: ${message}`);
    else placed[at] = [...(placed[at] ?? []), message];
  }
  return { placed, general };
}

function problemsOf(built: Built): Placed {
  const out: Placed = {};
  for (const [path, problem] of Object.entries(built.problems)) out[path] = [problem];
  return out;
}

/** The latest image/volume/network event of `node`: the suggestions follow it, never a timer. */
function resourceStamp(node: string): number {
  for (let i = timeline.length - 1; i >= 0; i--) {
    const entry = timeline[i];
    if (entry && entry.node_id === node && RESOURCE_EVENTS.has(entry.type)) return entry.seq;
  }
  return 0;
}

interface Suggestions {
  images: string[];
  volumes: string[];
  networks: string[];
  error: string | null;
}

const NO_SUGGESTIONS: Suggestions = { images: [], volumes: [], networks: [], error: null };

/** What `node` has to choose from, fetched when the node changes or an event says it did. */
function useSuggestions(node: string, admin: boolean): Suggestions {
  const [found, setFound] = useState<Suggestions>(NO_SUGGESTIONS);
  const stamp = resourceStamp(node);
  useEffect(() => {
    if (!node) return;
    let current = true;
    Promise.all([createApi.images(node), createApi.volumes(node), createApi.networks(node)]).then(
      ([i, v, n]) =>
        current &&
        setFound({
          images: i.images.flatMap((x) => x.repo_tags).filter((t) => !t.startsWith("<none>")),
          volumes: v.volumes.map((x) => x.name),
          // The host network is for admins only (the API answers others 403).
          networks: n.networks.map((x) => x.name).filter((x) => admin || x !== "host"),
          error: null,
        }),
      (err: unknown) =>
        current &&
        setFound({ ...NO_SUGGESTIONS, error: err instanceof ApiError ? err.message : String(err) }),
    );
    return () => {
      current = false;
    };
  }, [node, stamp, admin]);
  return found;
}

function NodeChoice({ node, online }: { node: string; online: string[] }) {
  const choices = online.includes(node) || !node ? online : [node, ...online];
  return (
    <label class="create-field">
      node
      <select value={node} onChange={(e) => setParams({ node: value(e) })}>
        {choices.map((n) => (
          <option key={n} value={n}>
            {nodes.get(n)?.name || n}
            {online.includes(n) ? "" : " (offline)"}
          </option>
        ))}
      </select>
    </label>
  );
}

function Errors({ attempt }: { attempt: Attempt }) {
  return (
    <div role="alert" class="error" data-testid="create-error">
      {attempt.general.map((m) => (
        <p key={m}>{m}</p>
      ))}
      {Object.keys(attempt.placed).length > 0 && (
        <p>The API refused some fields: see the messages next to them.</p>
      )}
    </div>
  );
}

export function Create() {
  version.value;
  const online = [...nodes.values()]
    .filter((n) => n.status === "online")
    .map((n) => n.node_id)
    .sort();
  const node = location.value.searchParams.get("node") || online[0] || "";
  const admin = me.value?.role === "admin";
  const [form, setForm] = useState<Form>(EMPTY_FORM);
  const [attempt, setAttempt] = useState<Attempt>(NO_ATTEMPT);
  const [busy, setBusy] = useState(false);
  const found = useSuggestions(mayOperate() ? node : "", admin);
  if (!mayOperate()) {
    return (
      <main>
        <h1>New container</h1>
        <p class="muted">Creating a container needs the operator role.</p>
      </main>
    );
  }
  const built = build(form);
  const m = messagesOf({ ...attempt.placed, ...problemsOf(built) });
  const set = <K extends keyof Form>(key: K, v: Form[K]) => setForm({ ...form, [key]: v });
  const text = (key: keyof Form & string, hint?: string, list?: string) => (
    <TextField
      name={key}
      value={String(form[key])}
      onInput={(v) => set(key, v as never)}
      m={m}
      placeholder={hint}
      list={list}
    />
  );
  // Removing a row renumbers the rows after it: the last attempt's messages no longer fit.
  const dropRow = (key: "ports" | "mounts", i: number) => {
    setAttempt(NO_ATTEMPT);
    set(key, form[key].filter((_, j) => j !== i) as never);
  };

  async function submit(e: Event) {
    e.preventDefault();
    if (Object.keys(built.problems).length > 0) return;
    setBusy(true);
    setAttempt(NO_ATTEMPT);
    try {
      const created = await createApi.create(node, built.body);
      navigate(containerPath(node, created.id));
    } catch (err) {
      setAttempt(attemptOf(err, built, form));
      setBusy(false);
    }
  }

  return (
    <main class="create">
      <h1>New container</h1>
      {online.length === 0 && <p class="muted">No node is online.</p>}
      <form onSubmit={(e) => void submit(e)} aria-label="New container" noValidate>
        <Section title="Container">
          <NodeChoice node={node} online={online} />
          {text("image", "nginx:1.27", "create-images")}
          <Options id="create-images" values={found.images} />
          {text("name", "(the engine picks one)")}
          {text("cmd", "(the image's); quoted as in a shell: sh -c 'echo hi'")}
          {text("entrypoint", "(the image's)")}
          {found.error && <p class="muted">No suggestions from the node: {found.error}</p>}
        </Section>
        <Section title="Environment (env)">
          <PairsEditor
            title="env"
            what="variable"
            pairs={form.env}
            onChange={(p) => set("env", p)}
          />
          <DotEnvPaste onPairs={(p) => set("env", mergePairs(form.env, p))} />
          {m.message("env")}
        </Section>
        <Section title="Ports (ports)">
          <PortRows
            ports={form.ports}
            onChange={(p) => set("ports", p)}
            onRemove={(i) => dropRow("ports", i)}
            m={m}
          />
          {m.message("ports")}
        </Section>
        <Section title={admin ? "Volumes and bind mounts (mounts)" : "Volumes (mounts)"}>
          <MountRows
            mounts={form.mounts}
            admin={admin}
            onChange={(p) => set("mounts", p)}
            onRemove={(i) => dropRow("mounts", i)}
            m={m}
          />
          <Options id="create-volumes" values={found.volumes} />
          {!admin && <p class="muted">Bind mounts (host paths) are for admins only.</p>}
          {m.message("mounts")}
        </Section>
        <Section title="Labels (labels)">
          <PairsEditor
            title="label"
            what="label"
            pairs={form.labels}
            onChange={(p) => set("labels", p)}
          />
          {m.message("labels")}
        </Section>
        <Section title="Run">
          <label class="create-field">
            restart_policy
            <select
              value={form.restart_policy}
              onChange={(e) => set("restart_policy", value(e) as RestartPolicy)}
              {...m.attrs("restart_policy")}
            >
              <option value="no">no</option>
              <option value="always">always</option>
              <option value="unless-stopped">unless-stopped</option>
              <option value="on-failure">on-failure</option>
            </select>
            {m.message("restart_policy")}
          </label>
          {form.restart_policy === "on-failure" && text("restart_max_retries", "0: no limit")}
          {text("cpus", "0.5")}
          {text("memory", "256m, 1.5g or bytes")}
          {text("network", "bridge", "create-networks")}
          <Options id="create-networks" values={found.networks} />
          {text("working_dir", "/srv")}
          {text("user", "1000:1000")}
          {text("hostname")}
          <label class="create-check">
            <input type="checkbox" checked={form.tty} onChange={(e) => set("tty", checked(e))} />
            tty
          </label>
          <label class="create-check">
            <input
              type="checkbox"
              checked={form.start}
              onChange={(e) => set("start", checked(e))}
            />
            start now
          </label>
        </Section>
        <CopyLine line={dockerRun(built.body)} />
        {(attempt.general.length > 0 || Object.keys(attempt.placed).length > 0) && (
          <Errors attempt={attempt} />
        )}
        <div class="create-submit">
          <button type="submit" class="primary" disabled={busy || !node}>
            {busy ? "Creating…" : "Create"}
          </button>
        </div>
      </form>
    </main>
  );
}
