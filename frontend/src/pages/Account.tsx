// Your own account: change your password, create and revoke your API tokens. A new token is
// shown once (ShownOnce keeps it in component state only); the list shows what the API keeps:
// name, prefix, scope, dates, and follows the socket's `identity` messages about your tokens
// (one made or revoked with curl, or by an admin) without a reload.

import { useEffect, useState } from "preact/hooks";
import { type ApiToken, adminApi } from "../api-admin";
import { ErrorLine, useConfirm } from "../components";
import { date } from "../format";
import { FormEnd, field, useSubmit } from "../forms";
import { socketState, stopLive, useMessages } from "../live";
import { messageOf, ShownOnce } from "../once";
import { loadSession, me } from "../session";
import { ListTable, RowButton } from "../table";

const EXPIRIES: readonly [string, number | null][] = [
  ["never", null],
  ["1 day", 86400],
  ["30 days", 30 * 86400],
  ["1 year", 365 * 86400],
];

function PasswordForm() {
  const [done, setDone] = useState<string | null>(null);
  const submit = useSubmit(async (formEl) => {
    const form = new FormData(formEl);
    const next = field(form, "new");
    setDone(null);
    if (next !== field(form, "again")) throw new Error("the two new passwords differ");
    // The change ends every session of yours, this one too (the answer sets a fresh cookie):
    // the events socket of the old one would close as signed out, so it is reopened after.
    stopLive();
    try {
      const answer = await adminApi.changePassword(field(form, "old"), next);
      formEl.reset();
      const others = answer.sessions_ended - 1;
      setDone(`Password changed${others > 0 ? `; ${others} other sessions ended` : ""}.`);
    } finally {
      await loadSession();
    }
  });

  return (
    <form class="admin-form" onSubmit={submit.onSubmit} aria-label="Change password">
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
      <FormEnd submit={submit} text="Change password">
        {done && <output>{done}</output>}
      </FormEnd>
    </form>
  );
}

function tokenState(t: ApiToken): string {
  if (t.revoked_at) return "revoked";
  return t.active ? "active" : "expired";
}

function TokenRow({ token, onRevoked }: { token: ApiToken; onRevoked: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const revoke = useConfirm({
    text: () => `Revoke the token ${token.name}? It stops working at once.`,
    confirmLabel: "Revoke",
    run: async () => {
      await adminApi.revokeToken(token.id);
      onRevoked();
    },
    fail: (err) => setError(messageOf(err)),
  });

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
          <RowButton label={`Revoke token ${token.name}`} danger onClick={() => revoke.ask()}>
            Revoke
          </RowButton>
        )}
        <ErrorLine error={error} />
        {revoke.dialog}
      </td>
    </tr>
  );
}

function Tokens() {
  const [tokens, setTokens] = useState<ApiToken[] | null>(null);
  const [made, setMade] = useState<string | null>(null);

  async function load() {
    try {
      setTokens((await adminApi.tokens()).tokens);
    } catch (err) {
      submit.setError(messageOf(err));
    }
  }

  const live = socketState.value === "live";
  useEffect(() => {
    void load();
  }, [live]);
  useMessages((m: { kind: string; what?: string; user_id?: number }) => {
    // An admin hears of everyone's tokens: this list is yours.
    if (m.kind === "identity" && m.what === "tokens" && m.user_id === me.value?.user_id)
      void load();
  });
  const submit = useSubmit(async (formEl) => {
    const form = new FormData(formEl);
    const expiry = EXPIRIES[Number(form.get("expiry") ?? 0)]?.[1] ?? null;
    const answer = await adminApi.createToken(field(form, "name").trim(), expiry);
    formEl.reset();
    setMade(answer.token);
    await load();
  });

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
      <form class="admin-form inline" onSubmit={submit.onSubmit} aria-label="New token">
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
      <ListTable
        columns={["Name", "Prefix", "Scope", "Created", "Last used", "Expires", "State"]}
        actions
        items={tokens}
        error={submit.error}
        empty="No tokens yet."
        row={(t) => <TokenRow key={t.id} token={t} onRevoked={() => void load()} />}
      />
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
