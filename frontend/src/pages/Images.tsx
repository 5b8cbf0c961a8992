// A node's images: the list (size, tags, created, which containers use each, from the live
// store), a pull with a progress bar per layer from the API's NDJSON stream (cancellable),
// remove with confirmation (force offered after the API's conflict), and prune with a preview.

import { useRef, useState } from "preact/hooks";
import { ApiError } from "../api";
import {
  type Image,
  mayOperateOn,
  messageOf,
  type PruneResult,
  type PullLine,
  plural,
  pullImage,
  resources,
  useLiveList,
} from "../api-resources";
import { Confirm, ErrorLine } from "../components";
import { bytes, date, shortId } from "../format";
import { containerPath, location, setParams } from "../router";
import { allContainers, version } from "../store";
import { ListTable } from "../table";
import type { Container } from "../types";

interface Layer {
  id: string;
  status: string;
  current: number | null;
  total: number | null;
}

interface Pull {
  image: string;
  phase: "pulling" | "done" | "failed" | "cancelled";
  layers: Layer[];
  status: string;
  error: string | null;
}

/** Layer states after which its download is whole (the engine gives no numbers with them). */
const DOWNLOADED = new Set(["Verifying Checksum", "Download complete"]);
const FINISHED = new Set(["Pull complete", "Already exists"]);

function applyLine(pull: Pull, line: PullLine): Pull {
  if (line.error) return { ...pull, phase: "failed", error: line.error.message };
  if (line.status === "done" && line.image) return { ...pull, phase: "done" };
  const status = line.status ?? "";
  // "latest: Pulling from repo", "Digest: ...", "Status: ..." are about the image, not a layer.
  if (!line.id || status.startsWith("Pulling from"))
    return { ...pull, status: line.id ? `${line.id}: ${status}` : status };
  const layers = [...pull.layers];
  const at = layers.findIndex((l) => l.id === line.id);
  const before = at >= 0 ? layers[at] : undefined;
  const total = line.progress_total ?? before?.total ?? null;
  let current = line.progress_current ?? null;
  if (current === null && (DOWNLOADED.has(status) || FINISHED.has(status))) current = total;
  const layer = { id: line.id, status, current, total };
  if (at >= 0) layers[at] = layer;
  else layers.push(layer);
  return { ...pull, layers };
}

function LayerBar({ layer }: { layer: Layer }) {
  const done = FINISHED.has(layer.status);
  const max = layer.total ?? 1;
  const value = done ? max : Math.min(layer.current ?? 0, max);
  return (
    <li class="layer">
      <code>{layer.id}</code>
      <progress
        data-testid="layer-progress"
        data-layer={layer.id}
        data-phase={layer.status}
        aria-label={`layer ${layer.id}: ${layer.status}`}
        value={value}
        max={max}
      />
      <span class="muted">
        {layer.status}
        {layer.total && !done ? ` ${bytes(layer.current ?? 0)} / ${bytes(layer.total)}` : ""}
      </span>
    </li>
  );
}

const PHASE_TEXT = {
  pulling: "Pulling…",
  done: "Pulled.",
  failed: "Failed.",
  // What the API does when the request closes (docs/API.md): the coordinator closes the pull's
  // link channel and the node ends the engine's request.
  cancelled:
    "Cancelled: the request was closed, so the coordinator ended the pull on the node. Layers already downloaded stay in the node's cache.",
} as const;

function PullPanel({ node }: { node: string }) {
  const [ref, setRef] = useState("");
  const [pull, setPull] = useState<Pull | null>(null);
  const abort = useRef<AbortController | null>(null);

  async function start(event: Event) {
    event.preventDefault();
    const image = ref.trim();
    if (!image || abort.current) return;
    const controller = new AbortController();
    abort.current = controller;
    setPull({ image, phase: "pulling", layers: [], status: "", error: null });
    try {
      await pullImage(node, image, controller.signal, (lines) =>
        setPull((p) => (p ? lines.reduce(applyLine, p) : p)),
      );
      setPull((p) =>
        p && p.phase === "pulling" ? { ...p, phase: "failed", error: "the stream ended early" } : p,
      );
    } catch (err) {
      const cancelled = controller.signal.aborted;
      setPull((p) =>
        p
          ? {
              ...p,
              phase: cancelled ? "cancelled" : "failed",
              error: cancelled ? null : messageOf(err),
            }
          : p,
      );
    } finally {
      abort.current = null;
    }
  }

  const pulling = pull?.phase === "pulling";
  return (
    <section class="pull" aria-label="Pull an image">
      <form class="toolbar" onSubmit={start}>
        <input
          aria-label="Image reference"
          placeholder="[registry/]repository[:tag|@digest]"
          value={ref}
          disabled={pulling}
          onInput={(e) => setRef((e.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit" disabled={pulling || !ref.trim()}>
          Pull
        </button>
        {pulling && (
          <button type="button" class="danger" onClick={() => abort.current?.abort()}>
            Cancel pull
          </button>
        )}
      </form>
      {pull && (
        <div data-testid="pull" data-phase={pull.phase}>
          <p>
            <strong>{pull.image}</strong> <span>{PHASE_TEXT[pull.phase]}</span>{" "}
            <span class="muted">{pull.status}</span>
          </p>
          <ErrorLine error={pull.error} />
          <ul class="layers">
            {pull.layers.map((l) => (
              <LayerBar key={l.id} layer={l} />
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

function nameOf(image: Image): string {
  return image.repo_tags[0] ?? image.repo_digests[0] ?? shortId(image.id.replace(/^sha256:/, ""));
}

function ImageRow(props: { image: Image; users: Container[]; node: string; operate: boolean }) {
  const { image, users, node } = props;
  const [asking, setAsking] = useState<"remove" | "force" | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | string | null>(null);

  async function remove(force: boolean) {
    setAsking(null);
    setBusy(true);
    setError(null);
    try {
      // By id: the image and all its tags, as the engine decides (an untag is a tag's DELETE).
      await resources.removeImage(node, image.id, force);
    } catch (err) {
      setError(err instanceof ApiError ? err : String(err));
    } finally {
      setBusy(false);
    }
  }

  const conflict = error instanceof ApiError && error.status === 409 && error.code === "conflict";
  return (
    <tr data-testid="image-row" data-id={image.id} data-tags={image.repo_tags.join(" ")}>
      <td class="wrap">
        {image.repo_tags.length ? (
          image.repo_tags.map((t) => <div key={t}>{t}</div>)
        ) : (
          <span class="muted" title={image.repo_digests.join(" ")}>
            &lt;none&gt; (dangling)
          </span>
        )}
      </td>
      <td>
        <code title={image.id}>{shortId(image.id.replace(/^sha256:/, ""))}</code>
      </td>
      <td class="num">{bytes(image.size)}</td>
      <td class="muted">{date(image.created)}</td>
      <td class="wrap">
        {users.length === 0 ? (
          <span class="muted">unused</span>
        ) : (
          users.map((c) => (
            <a key={c.id} class="user" href={containerPath(c.node_id, c.id)} title={c.state}>
              {c.name}
            </a>
          ))
        )}
      </td>
      {props.operate && (
        <td>
          <button type="button" class="danger" disabled={busy} onClick={() => setAsking("remove")}>
            Remove{busy ? "…" : ""}
          </button>
          {conflict && (
            <button type="button" class="danger" disabled={busy} onClick={() => setAsking("force")}>
              Force remove
            </button>
          )}
          {error && (
            <p class="error" role="alert">
              {error instanceof ApiError ? error.message : error}
            </p>
          )}
          {asking && (
            <Confirm
              text={
                asking === "force"
                  ? `Force the removal of ${nameOf(image)} on ${node}? Every tag goes; an image a running container uses is still refused.`
                  : `Remove image ${nameOf(image)} (${bytes(image.size)}) from ${node}?`
              }
              confirmLabel={asking === "force" ? "Force remove" : "Remove"}
              onConfirm={() => remove(asking === "force")}
              onCancel={() => setAsking(null)}
            />
          )}
        </td>
      )}
    </tr>
  );
}

type PruneMode = "dangling" | "unused";

/** What the API's prune would remove, from the list: `dangling=true` takes untagged images no
 * container uses, `dangling=false` every image no container (running or not) uses. */
function prunable(images: Image[], usedBy: Map<string, Container[]>, mode: PruneMode): Image[] {
  return images.filter(
    (i) => !usedBy.get(i.id)?.length && (mode === "unused" || i.repo_tags.length === 0),
  );
}

function Prune(props: { node: string; images: Image[]; usedBy: Map<string, Container[]> }) {
  const [mode, setMode] = useState<PruneMode | null>(null);
  const [result, setResult] = useState<PruneResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const preview = mode ? prunable(props.images, props.usedBy, mode) : [];

  async function prune(chosen: PruneMode) {
    setMode(null);
    setError(null);
    setResult(null);
    try {
      setResult(await resources.pruneImages(props.node, chosen === "dangling"));
    } catch (err) {
      setError(messageOf(err));
    }
  }

  return (
    <>
      <button type="button" onClick={() => setMode("dangling")}>
        Prune dangling…
      </button>
      <button type="button" onClick={() => setMode("unused")}>
        Prune unused…
      </button>
      {result && (
        <output class="muted" data-testid="prune-result">
          Pruned {result.deleted.length} ({bytes(result.space_reclaimed)} reclaimed)
        </output>
      )}
      <ErrorLine error={error} />
      {mode && (
        <Confirm
          text={
            preview.length === 0
              ? `Nothing to prune on ${props.node}: every ${mode === "dangling" ? "untagged " : ""}image is in use.`
              : `Remove these ${preview.length} ${mode === "dangling" ? "untagged" : "unused"} images (${bytes(preview.reduce((s, i) => s + i.size, 0))}) from ${props.node}?`
          }
          confirmLabel="Prune"
          onConfirm={() => prune(mode)}
          onCancel={() => setMode(null)}
        >
          <ul class="preview" data-testid="prune-preview">
            {preview.map((i) => (
              <li key={i.id}>
                {nameOf(i)} <span class="muted">{bytes(i.size)}</span>
              </li>
            ))}
          </ul>
        </Confirm>
      )}
    </>
  );
}

function usersByImage(node: string): Map<string, Container[]> {
  const out = new Map<string, Container[]>();
  for (const c of allContainers()) {
    if (c.node_id !== node) continue;
    out.set(c.image_id, [...(out.get(c.image_id) ?? []), c]);
  }
  return out;
}

const isImageEvent = (e: { type: string }) => e.type === "image";

export function Images({ node }: { node: string }) {
  version.value;
  const { items, error } = useLiveList(node, resources.images, isImageEvent);
  const q = (location.value.searchParams.get("q") ?? "").toLowerCase();
  const operate = mayOperateOn(node);
  const usedBy = usersByImage(node);
  const shown = (items ?? [])
    .filter(
      (i) =>
        !q || [i.id, ...i.repo_tags, ...i.repo_digests].some((s) => s.toLowerCase().includes(q)),
    )
    .sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  return (
    <>
      {operate && <PullPanel node={node} />}
      <div class="toolbar">
        <input
          type="search"
          aria-label="Filter images"
          placeholder="Filter: tag, digest, id"
          value={q}
          onInput={(e) => setParams({ q: (e.currentTarget as HTMLInputElement).value })}
        />
        <span class="muted">
          {items
            ? `${plural(shown.length, "image")}, ${bytes(shown.reduce((s, i) => s + i.size, 0))}`
            : "Loading…"}
        </span>
        {operate && items && <Prune node={node} images={items} usedBy={usedBy} />}
      </div>
      <ListTable
        class="containers resources"
        label="Images"
        columns={["Tags", "Id", "Size", "Created", "Used by"]}
        actions={operate}
        items={shown}
        error={error}
        row={(i) => (
          <ImageRow
            key={i.id}
            image={i}
            users={usedBy.get(i.id) ?? []}
            node={node}
            operate={operate}
          />
        )}
      />
    </>
  );
}
