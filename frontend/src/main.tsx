import { render } from "preact";
import "./style.css";
import { SocketBadge } from "./components";
import { Account } from "./pages/Account";
import { AlertBell, Alerts } from "./pages/Alerts";
import { Audit } from "./pages/Audit";
import { Container } from "./pages/Container";
import { Containers } from "./pages/Containers";
import { Create } from "./pages/Create";
import { Events } from "./pages/Events";
import { Fleet } from "./pages/Fleet";
import { Instances } from "./pages/Instances";
import { Login } from "./pages/Login";
import { Logs } from "./pages/Logs";
import { MergedLogs } from "./pages/MergedLogs";
import { type ResourceKind, Resources } from "./pages/Resources";
import { Users } from "./pages/Users";
import { location } from "./router";
import { loadSession, me, signOut } from "./session";
import { Shortcuts, showShortcuts } from "./shortcuts";
import { setTheme, type Theme, theme } from "./theme";

function Page() {
  const path = location.value.pathname;
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "containers" && parts.length === 3) {
    return <Container node={parts[1] ?? ""} reference={parts[2] ?? ""} />;
  }
  if (parts[0] === "nodes") return <Fleet />;
  if (parts[0] === "logs" && parts[1] === "merged") return <MergedLogs />;
  if (parts[0] === "create") return <Create />;
  if (parts[0] === "logs") return <Logs />;
  if (parts[0] === "events") return <Events />;
  if (parts[0] === "audit" && me.value?.role === "admin") return <Audit />;
  if (parts[0] === "alerts" && me.value?.role === "admin") return <Alerts />;
  if (parts[0] === "instances") return <Instances />;
  if (["images", "volumes", "networks"].includes(parts[0] ?? ""))
    return <Resources kind={parts[0] as ResourceKind} />;
  if (parts[0] === "users") return <Users />;
  if (parts[0] === "account") return <Account />;
  return <Containers />;
}

/** The main menu: where each link goes, what it is current for (its own path unless told). */
const MENU: { href: string; text: string; adminOnly?: boolean; current?: RegExp }[] = [
  { href: "/containers", text: "Containers", current: /^\/($|containers)/ },
  { href: "/nodes", text: "Nodes" },
  { href: "/images", text: "Images", current: /^\/(images|volumes|networks)/ },
  { href: "/events", text: "Events" },
  { href: "/audit", text: "Audit", adminOnly: true },
  { href: "/alerts", text: "Alerts", adminOnly: true },
  { href: "/instances", text: "Instances" },
  { href: "/users", text: "Users", adminOnly: true },
];

function Shell() {
  const user = me.value;
  if (user === undefined) return <p class="muted">Loading…</p>;
  if (user === null) return <Login />;
  const path = location.value.pathname;
  return (
    <>
      <header class="top">
        <a class="brand" href="/">
          Docklord
        </a>
        <nav aria-label="Main">
          {MENU.filter((m) => !m.adminOnly || user.role === "admin").map((m) => (
            <a
              key={m.href}
              href={m.href}
              aria-current={
                (m.current ? m.current.test(path) : path.startsWith(m.href)) ? "page" : undefined
              }
            >
              {m.text}
            </a>
          ))}
          <a href="/docs" data-external>
            API
          </a>
        </nav>
        {user.role === "admin" && <AlertBell />}
        <SocketBadge />
        <label class="theme">
          <span class="sr-only">Theme</span>
          <select
            aria-label="Theme"
            value={theme.value}
            onChange={(e) => setTheme((e.currentTarget as HTMLSelectElement).value as Theme)}
          >
            <option value="auto">auto</option>
            <option value="light">light</option>
            <option value="dark">dark</option>
          </select>
        </label>
        <button
          type="button"
          aria-label="Keyboard shortcuts"
          onClick={() => (showShortcuts.value = true)}
        >
          ?
        </button>
        <a class="who" href="/account" title={`role: ${user.role}; your account`}>
          {user.username} ({user.role})
        </a>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <Page />
      <Shortcuts />
    </>
  );
}

const root = document.getElementById("app");
if (root) {
  render(<Shell />, root);
  void loadSession();
}
