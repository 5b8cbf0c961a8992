// Your own account: change your password, create and revoke your API tokens. A new token is
// shown once (ShownOnce keeps it in component state only); the list shows what the API keeps:
// name, prefix, scope, dates, and follows the socket's `identity` messages about your tokens
// (one made or revoked with curl, or by an admin) without a reload.

import { useEffect, useState } from "preact/hooks";
import { type ApiToken, adminApi } from "../api-admin";
import { Confirm, ErrorLine } from "../components";
import { date } from "../format";
import { listeners, socketState, stopLive } from "../live";
import { messageOf, ShownOnce } from "../once";
import { loadSession, me } from "../session";

const EXPIRIES: readonly [string, number | null][] = [
  ["never", null],
  ["1 day", 86400],
  ["30 days", 30 * 86400],
  ["1 year", 365 * 86400],
];

function PasswordForm() {
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: SubmitEvent) {
    event.preventDefault();
    const formEl = event.currentTarget as HTMLFormElement;
    const form = new FormData(formEl);
    const next = String(form.get("new") ?? "");
    setError(null);
    setDone(null);
    if (next !== String(form.get("again") ?? "")) {
      setError("the two new passwords differ");
      return;
    }
    setBusy(true);
    // The change ends every session of yours, this one too (the answer sets a fresh cookie):
    // the events socket of the old one would close as signed out, so it is reopened after.
    stopLive();
    try {
      const answer = await adminApi.changePassword(String(form.get("old") ?? ""), next);
      formEl.reset();
      const others = answer.sessions_ended - 1;
      setDone(`Password changed${others > 0 ? `; ${others} other sessions ended` : ""}.`);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
      await loadSession();
    }
  }

  return (
    <form class="admin-form" onSubmit={submit} aria-label="Change password">
      <h2>Password</h2>
      <label>
        Current password{" "}
        <input name="old" type="password" required autocomplete="current-password" />
      </label>
      <label>
        New password{" "}
        <input name="new" type="password" required minLength={8} autocomplete="new-password" />
      </label>
      <label>
        New password again{" "}
        <input name="again" type="password" required minLength={8} autocomplete="new-password" />
      </label>
      <ErrorLine error={error} />
      {done && <output>{done}</output>}
      <div class="buttons">
        <button type="submit" disabled={busy}>
          Change password
        </button>
      </div>
    </form>
  );
}

function tokenState(t: ApiToken): string {
  if (t.revoked_at) return "revoked";
  return t.active ? "active" : "expired";
}

function TokenRow({ token, onRevoked }: { token: ApiToken; onRevoked: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function revoke() {
    setConfirming(false);
    try {
      await adminApi.revokeToken(token.id);
      onRevoked();
    } catch (err) {
      setError(messageOf(err));
    }
  }

  return (
    <tr data-testid="token-row" data-name={token.name}>
      <td>
        <strong>{token.name}</strong>
      </td>
      <td>
        <code>{token.prefix}…</code>
      </td>
      <td>{token.role_scope ?? "your role"}</td>
      <td>{date(token.created_at)}</td>
      <td>{token.last_used_at ? date(token.last_used_at) : "never"}</td>
      <td>{token.expires_at ? date(token.expires_at) : "never"}</td>
      <td>{tokenState(token)}</td>
      <td>
        {token.active && (
          <button
            type="button"
            class="danger"
            aria-label={`Revoke token ${token.name}`}
            onClick={() => setConfirming(true)}
          >
            Revoke
          </button>
        )}
        <ErrorLine error={error} />
        {confirming && (
          <Confirm
            text={`Revoke the token ${token.name}? It stops working at once.`}
            confirmLabel="Revoke"
            onConfirm={() => void revoke()}
            onCancel={() => setConfirming(false)}
          />
        )}
      </td>
    </tr>
  );
}

function Tokens() {
  const [tokens, setTokens] = useState<ApiToken[] | null>(null);
  const [made, setMade] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function load() {
    try {
      setTokens((await adminApi.tokens()).tokens);
    } catch (err) {
      setError(messageOf(err));
    }
  }

  const live = socketState.value === "live";
  useEffect(() => {
    void load();
  }, [live]);
  useEffect(() => {
    const listen = (m: { kind: string; what?: string; user_id?: number }) => {
      // An admin hears of everyone's tokens: this list is yours.
      if (m.kind === "identity" && m.what === "tokens" && m.user_id === me.value?.user_id)
        void load();
    };
    listeners.add(listen);
    return () => {
      listeners.delete(listen);
    };
  }, []);

  async function submit(event: SubmitEvent) {
    event.preventDefault();
    const formEl = event.currentTarget as HTMLFormElement;
    const form = new FormData(formEl);
    const expiry = EXPIRIES[Number(form.get("expiry") ?? 0)]?.[1] ?? null;
    setError(null);
    try {
      const answer = await adminApi.createToken(String(form.get("name") ?? "").trim(), expiry);
      formEl.reset();
      setMade(answer.token);
      await load();
    } catch (err) {
      setError(messageOf(err));
    }
  }

  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">API tokens</h2>
      <p class="muted">
        Send one as <code>Authorization: Bearer …</code>; it acts as you (with your role).
      </p>
      {made && (
        <ShownOnce
          label="New token"
          text={made}
          note="Copy it now: it is shown only this once."
          testId="new-token"
          onDone={() => setMade(null)}
        />
      )}
      <form class="admin-form inline" onSubmit={submit} aria-label="New token">
        <label>
          Name <input name="name" required maxLength={100} autocomplete="off" />
        </label>
        <label>
          Expires{" "}
          <select name="expiry" defaultValue="0">
            {EXPIRIES.map(([text], i) => (
              <option key={text} value={String(i)}>
                {text}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Create token</button>
      </form>
      <ErrorLine error={error} />
      <div class="table-wrap">
        <table class="admin">
          <thead>
            <tr>
              <th>Name</th>
              <th>Prefix</th>
              <th>Scope</th>
              <th>Created</th>
              <th>Last used</th>
              <th>Expires</th>
              <th>State</th>
              <th>
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {(tokens ?? []).map((t) => (
              <TokenRow key={t.id} token={t} onRevoked={() => void load()} />
            ))}
          </tbody>
        </table>
      </div>
      {tokens?.length === 0 && <p class="muted">No tokens yet.</p>}
    </section>
  );
}

export function Account() {
  const user = me.value;
  return (
    <main>
      <h1>Account</h1>
      <p>
        Signed in as <strong>{user?.username}</strong> ({user?.role}
        {user?.nodes ? `; nodes ${user.nodes.join(", ")}` : ""}).
      </p>
      <PasswordForm />
      <Tokens />
    </main>
  );
}
