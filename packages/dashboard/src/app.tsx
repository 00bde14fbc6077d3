// The shell: sign-in gate, navigation and the page for the current path.

import { type FormEvent, type ReactNode, useEffect, useState } from "react";
import {
  ApiError,
  clearToken,
  describeError,
  getToken,
  request,
  setToken,
  setUnauthorizedHandler,
} from "./api.ts";
import { AuditPage } from "./pages/audit.tsx";
import { ConfigPage } from "./pages/config.tsx";
import { ConnectPage } from "./pages/connect.tsx";
import { EdgesPage } from "./pages/edges.tsx";
import { IdentitiesPage } from "./pages/identities.tsx";
import { ImportPage } from "./pages/import.tsx";
import { ListDetailPage, ListsPage } from "./pages/lists.tsx";
import { LocalDnsPage } from "./pages/local-dns.tsx";
import { LocationsPage } from "./pages/locations.tsx";
import { OverviewPage } from "./pages/overview.tsx";
import { PoliciesPage } from "./pages/policies.tsx";
import { QueryLogPage } from "./pages/query-log.tsx";
import { ResolverPage } from "./pages/resolver.tsx";
import { SettingsPage } from "./pages/settings.tsx";
import { TokensPage } from "./pages/tokens.tsx";
import { PauseBar } from "./pause-bar.tsx";
import { Link, useLocation } from "./router.tsx";
import type { Whoami } from "./types.ts";
import { TextField } from "./ui.tsx";

const NAV: readonly { to: string; label: string }[] = [
  { to: "/", label: "Overview" },
  { to: "/logs", label: "Query log" },
  { to: "/policies", label: "Policies" },
  { to: "/lists", label: "Lists" },
  { to: "/locations", label: "Locations" },
  { to: "/connect", label: "Connect a device" },
  { to: "/local-dns", label: "Local DNS" },
  { to: "/identities", label: "Users and devices" },
  { to: "/resolver", label: "DNS settings" },
  { to: "/settings", label: "Settings" },
  { to: "/edges", label: "Edges" },
  { to: "/config", label: "Publish" },
  { to: "/audit", label: "Audit log" },
  { to: "/import", label: "Import" },
  { to: "/tokens", label: "API tokens" },
];

export function App() {
  const [signedIn, setSignedIn] = useState(getToken() !== null);
  const [reason, setReason] = useState<string | undefined>(undefined);
  useEffect(() => {
    setUnauthorizedHandler((message) => {
      clearToken();
      setReason(`Signed out: control refused the token (401: ${message}). Sign in again.`);
      setSignedIn(false);
    });
  }, []);
  if (!signedIn)
    return (
      <SignIn
        reason={reason}
        onSignedIn={() => {
          setReason(undefined);
          setSignedIn(true);
        }}
      />
    );
  return (
    <Shell
      onSignOut={() => {
        clearToken();
        setReason(undefined);
        setSignedIn(false);
      }}
    />
  );
}

function SignIn(props: { reason: string | undefined; onSignedIn: () => void }) {
  const [token, setTokenText] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const t = token.trim();
    if (!t) {
      setError("Enter an API token (ght_…).");
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await request<Whoami>("GET", "/whoami", { token: t });
      setToken(t);
      props.onSignedIn();
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? `Control refused this token (401: ${err.message}). Check that you copied the whole token and that it has not been revoked or expired.`
          : describeError(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <form onSubmit={submit} aria-label="Sign in">
        <h1>Gatehouse</h1>
        <p>
          Sign in with an API token. <code>npm start</code> prints the admin token on its first run;
          more tokens come from <code>POST /api/v1/tokens</code>.
        </p>
        {props.reason && <div className="notice">{props.reason}</div>}
        <TextField
          label="API token"
          type="password"
          name="token"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={setTokenText}
          placeholder="ght_…"
        />
        {error && (
          <div className="error" role="alert">
            {error}
          </div>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <p className="hint">The token stays in this tab only (session storage).</p>
      </form>
    </main>
  );
}

function Shell(props: { onSignOut: () => void }) {
  const { path } = useLocation();
  const [me, setMe] = useState<Whoami | undefined>(undefined);
  useEffect(() => {
    request<Whoami>("GET", "/whoami").then(setMe, () => {});
  }, []);
  const active = (to: string) =>
    to === "/" ? path === "/" : path === to || path.startsWith(`${to}/`);
  return (
    <div className="shell">
      <nav className="sidebar" aria-label="Main">
        <div className="brand">Gatehouse</div>
        <ul>
          {NAV.map((n) => (
            <li key={n.to}>
              <Link to={n.to} className={active(n.to) ? "active" : undefined}>
                {n.label}
              </Link>
            </li>
          ))}
        </ul>
        <div className="who">
          {me && (
            <span title={`account ${me.accountId}, token ${me.tokenId}`}>Role: {me.role}</span>
          )}
          <button type="button" onClick={props.onSignOut}>
            Sign out
          </button>
          <a href="/api/v1/docs" target="_blank" rel="noreferrer">
            API docs
          </a>
        </div>
      </nav>
      <main className="content">
        {me && <PauseBar canChange={me.role !== "viewer"} />}
        <Page path={path} />
      </main>
    </div>
  );
}

/** Pages by path; `/lists/:id` is the one path with a parameter. */
const PAGES: Readonly<Record<string, () => ReactNode>> = {
  "/": () => <OverviewPage />,
  "/logs": () => <QueryLogPage />,
  "/policies": () => <PoliciesPage />,
  "/lists": () => <ListsPage />,
  "/locations": () => <LocationsPage />,
  "/connect": () => <ConnectPage />,
  "/local-dns": () => <LocalDnsPage />,
  "/identities": () => <IdentitiesPage />,
  "/edges": () => <EdgesPage />,
  "/config": () => <ConfigPage />,
  "/resolver": () => <ResolverPage />,
  "/settings": () => <SettingsPage />,
  "/audit": () => <AuditPage />,
  "/import": () => <ImportPage />,
  "/tokens": () => <TokensPage />,
};

function Page({ path }: { path: string }) {
  const clean = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const listId = /^\/lists\/([^/]+)$/.exec(clean)?.[1];
  if (listId !== undefined) return <ListDetailPage id={decodeURIComponent(listId)} />;
  const page = Object.hasOwn(PAGES, clean) ? PAGES[clean] : undefined;
  if (page) return page();
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page at <code>{path}</code>. <Link to="/">Back to the overview</Link>.
      </p>
    </section>
  );
}
