// The shell: sign-in gate, navigation and the page for the current path.

import { type FormEvent, type ReactNode, useEffect, useRef, useState } from "react";
import {
  ApiError,
  clearToken,
  describeError,
  getToken,
  request,
  setCsrfToken,
  setToken,
  setUnauthorizedHandler,
} from "./api.ts";
import { AuditPage } from "./pages/audit.tsx";
import { ClientDetailPage } from "./pages/client-detail.tsx";
import { ClientsPage } from "./pages/clients.tsx";
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
import { RolloutsPage } from "./pages/rollouts.tsx";
import { SettingsPage } from "./pages/settings.tsx";
import { TokensPage } from "./pages/tokens.tsx";
import { UsersPage } from "./pages/users.tsx";
import { PauseBar } from "./pause-bar.tsx";
import { Link, useLocation } from "./router.tsx";
import type { SessionView, Whoami } from "./types.ts";
import { TextField } from "./ui.tsx";

const NAV: readonly { to: string; label: string }[] = [
  { to: "/", label: "Overview" },
  { to: "/logs", label: "Query log" },
  { to: "/policies", label: "Policies" },
  { to: "/lists", label: "Lists" },
  { to: "/locations", label: "Locations" },
  { to: "/connect", label: "Connect a device" },
  { to: "/local-dns", label: "Local DNS" },
  { to: "/clients", label: "Clients" },
  { to: "/identities", label: "Users and devices" },
  { to: "/resolver", label: "DNS settings" },
  { to: "/settings", label: "Settings" },
  { to: "/edges", label: "Edges" },
  { to: "/rollouts", label: "Rollouts" },
  { to: "/config", label: "Publish" },
  { to: "/audit", label: "Audit log" },
  { to: "/import", label: "Import" },
  { to: "/users", label: "Sign-in users" },
  { to: "/tokens", label: "API tokens" },
];

type SignedIn = "checking" | "no" | "token" | "password";

/** Control sets gh_signed_in=1 (no secret; the session cookie itself is HttpOnly) at sign-in. */
function mayHaveSession(): boolean {
  return document.cookie.split("; ").includes("gh_signed_in=1");
}

function forgetSessionHint(): void {
  // biome-ignore lint/suspicious/noDocumentCookie: clears a hint cookie, no secret in it
  document.cookie = "gh_signed_in=; Max-Age=0; Path=/; SameSite=Strict";
}

export function App() {
  const [signedIn, setSignedIn] = useState<SignedIn>(
    getToken() !== null ? "token" : mayHaveSession() ? "checking" : "no",
  );
  const [reason, setReason] = useState<string | undefined>(undefined);
  // How the user is signed in, for the handler below (several requests may be refused at once).
  const mode = useRef(signedIn);
  if (signedIn === "token" || signedIn === "password") mode.current = signedIn;
  useEffect(() => {
    setUnauthorizedHandler((message) => {
      const what = mode.current === "password" ? "the session" : "the token";
      clearToken();
      setCsrfToken(null);
      forgetSessionHint();
      setReason(`Signed out: control refused ${what} (401: ${message}). Sign in again.`);
      setSignedIn("no");
    });
  }, []);
  // A password session lives in an HttpOnly cookie: ask control whether there is one.
  useEffect(() => {
    if (signedIn !== "checking") return;
    request<SessionView>("GET", "/auth/session", { noSignOut: true }).then(
      (s) => {
        setCsrfToken(s.csrfToken);
        setSignedIn(s.via === "password" ? "password" : "no");
      },
      () => {
        forgetSessionHint();
        setSignedIn("no");
      },
    );
  }, [signedIn]);
  if (signedIn === "checking") return <main className="signin" aria-busy="true" />;
  if (signedIn === "no")
    return (
      <SignIn
        reason={reason}
        onSignedIn={(via) => {
          setReason(undefined);
          setSignedIn(via);
        }}
      />
    );
  return (
    <Shell
      onSignOut={async () => {
        if (signedIn === "password")
          await request("POST", "/auth/logout", { noSignOut: true }).catch(() => {});
        clearToken();
        setCsrfToken(null);
        setReason(undefined);
        setSignedIn("no");
      }}
    />
  );
}

function SignIn(props: {
  reason: string | undefined;
  onSignedIn: (via: "token" | "password") => void;
}) {
  const [withToken, setWithToken] = useState(false);
  const [token, setTokenText] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submitPassword = async (e: FormEvent) => {
    e.preventDefault();
    if (!username.trim() || !password) {
      setError("Enter your username and password.");
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const s = await request<SessionView>("POST", "/auth/login", {
        body: { username: username.trim(), password },
        noSignOut: true,
      });
      setCsrfToken(s.csrfToken);
      props.onSignedIn("password");
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? "Wrong username or password."
          : err instanceof ApiError && err.status === 429
            ? `${err.message}. Wait a moment and try again.`
            : describeError(err),
      );
    } finally {
      setBusy(false);
    }
  };
  const submitToken = async (e: FormEvent) => {
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
      props.onSignedIn("token");
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
  const errorBox = error && (
    <div className="error" role="alert">
      {error}
    </div>
  );
  const switchTo = (toToken: boolean) => () => {
    setError(undefined);
    setWithToken(toToken);
  };
  if (withToken)
    return (
      <main className="signin">
        <form onSubmit={submitToken} aria-label="Sign in with an API token">
          <h1>Gatehouse</h1>
          <p>
            Sign in with an API token. <code>npm start</code> prints the admin token on its first
            run; more tokens come from the API tokens page.
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
          {errorBox}
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Checking…" : "Sign in"}
          </button>
          <p className="hint">The token stays in this tab only (session storage).</p>
          <button type="button" className="link" onClick={switchTo(false)}>
            Use a username and password instead
          </button>
        </form>
      </main>
    );
  return (
    <main className="signin">
      <form onSubmit={submitPassword} aria-label="Sign in">
        <h1>Gatehouse</h1>
        <p>
          Sign in as <code>admin</code> with the password <code>npm start</code> printed on its
          first run (or set one with <code>gatehouse admin password</code>).
        </p>
        {props.reason && <div className="notice">{props.reason}</div>}
        <TextField
          label="Username"
          name="username"
          autoComplete="username"
          spellCheck={false}
          value={username}
          onChange={setUsername}
        />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          value={password}
          onChange={setPassword}
        />
        {errorBox}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
        <button type="button" className="link" onClick={switchTo(true)}>
          Use an API token instead
        </button>
      </form>
    </main>
  );
}

function Shell(props: { onSignOut: () => void }) {
  const { path } = useLocation();
  const [me, setMe] = useState<SessionView | undefined>(undefined);
  useEffect(() => {
    request<SessionView>("GET", "/auth/session").then(setMe, () => {});
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
            <span title={`account ${me.accountId}`}>
              {me.username ? `${me.username} (${me.role})` : `API token, role: ${me.role}`}
            </span>
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
        <Page path={path} canChange={me?.role !== undefined && me.role !== "viewer"} />
      </main>
    </div>
  );
}

/** Pages by path; `/lists/:id` and `/clients/:address` are the paths with a parameter. */
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
  "/rollouts": () => <RolloutsPage />,
  "/config": () => <ConfigPage />,
  "/resolver": () => <ResolverPage />,
  "/settings": () => <SettingsPage />,
  "/audit": () => <AuditPage />,
  "/import": () => <ImportPage />,
  "/tokens": () => <TokensPage />,
  "/users": () => <UsersPage />,
  "/clients": () => <ClientsPage />,
};

function Page({ path, canChange }: { path: string; canChange: boolean }) {
  const clean = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const listId = /^\/lists\/([^/]+)$/.exec(clean)?.[1];
  if (listId !== undefined) return <ListDetailPage id={decodeURIComponent(listId)} />;
  const client = /^\/clients\/([^/]+)$/.exec(clean)?.[1];
  if (client !== undefined)
    return <ClientDetailPage client={decodeURIComponent(client)} canChange={canChange} />;
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
