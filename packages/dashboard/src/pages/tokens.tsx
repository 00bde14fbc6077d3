// API tokens (admins): who may sign in here or call the API, with which role. A new token's
// secret is shown once, as the API answers it once; revoking stops it at once.

import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api.ts";
import type { Page, Whoami } from "../types.ts";
import {
  Badge,
  ConfirmButton,
  EmptyRow,
  ErrorBanner,
  FormButtons,
  formatTime,
  Notice,
  PageHead,
  SecretNotice,
  SelectField,
  TextField,
  useAction,
  useResource,
} from "../ui.tsx";

interface Token {
  id: string;
  name: string;
  role: "viewer" | "editor" | "admin";
  expiresAt: string | null;
  revokedAt: string | null;
  createdBy: string | null;
  createdAt: string;
}

const ROLES = [
  ["viewer", "viewer: sees everything, changes nothing"],
  ["editor", "editor: changes policies, lists, locations, settings"],
  ["admin", "admin: also tokens, edges and imports"],
] as const;
const LIFETIMES = [
  ["", "never expires"],
  [String(86_400), "1 day"],
  [String(30 * 86_400), "30 days"],
  [String(365 * 86_400), "1 year"],
] as const;

function state(t: Token, now: number): string {
  if (t.revokedAt) return "revoked";
  if (t.expiresAt && new Date(t.expiresAt).getTime() <= now) return "expired";
  return "active";
}

export function TokensPage() {
  const tokens = useResource("tokens", (signal) =>
    api.get<Page<Token>>("/tokens", { limit: 1000 }, signal),
  );
  const me = useResource("whoami", (signal) => api.get<Whoami>("/whoami", undefined, signal));
  const [creating, setCreating] = useState(false);
  const [issued, setIssued] = useState<{ name: string; token: string } | undefined>(undefined);
  const action = useAction();
  const items = tokens.data?.items ?? [];
  const now = Date.now();
  const forbidden = tokens.error instanceof ApiError && tokens.error.status === 403;
  return (
    <section>
      <PageHead title="API tokens">
        {!creating && !forbidden && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New token
          </button>
        )}
      </PageHead>
      {creating && (
        <TokenForm
          onDone={(created) => {
            setCreating(false);
            if (created) {
              setIssued(created);
              tokens.reload();
            }
          }}
        />
      )}
      {issued && <SecretNotice what={`The token “${issued.name}”`} secret={issued.token} />}
      {forbidden ? (
        <Notice>Only an admin token may see and manage tokens.</Notice>
      ) : (
        <ErrorBanner error={tokens.error ?? action.error} />
      )}
      <table aria-label="API tokens">
        <thead>
          <tr>
            <th>Name</th>
            <th>Role</th>
            <th>State</th>
            <th>Created</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map((t) => (
            <tr key={t.id} className={state(t, now) === "active" ? undefined : "muted"}>
              <td>
                {t.name}
                <div className="hint">
                  {t.id}
                  {t.id === me.data?.tokenId && " — this session's token"}
                </div>
              </td>
              <td>{t.role}</td>
              <td>
                <Badge value={state(t, now)} />
              </td>
              <td>{formatTime(t.createdAt)}</td>
              <td>{t.expiresAt ? formatTime(t.expiresAt) : "never"}</td>
              <td className="actions">
                {!t.revokedAt && (
                  <ConfirmButton
                    question={
                      t.id === me.data?.tokenId
                        ? `Revoke "${t.name}", the token this session signed in with? You will be signed out.`
                        : `Revoke the token "${t.name}"? Whoever uses it is signed out.`
                    }
                    onConfirm={() =>
                      action.run(async () => {
                        await api.del(`/tokens/${encodeURIComponent(t.id)}`);
                        tokens.reload();
                      })
                    }
                  >
                    Revoke
                  </ConfirmButton>
                )}
              </td>
            </tr>
          ))}
          <EmptyRow cols={6} show={!!tokens.data && items.length === 0}>
            No tokens.
          </EmptyRow>
        </tbody>
      </table>
    </section>
  );
}

function TokenForm(props: { onDone: (created?: { name: string; token: string }) => void }) {
  const [name, setName] = useState("");
  const [role, setRole] = useState("viewer");
  const [lifetime, setLifetime] = useState("");
  const save = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    let created: { name: string; token: string } | undefined;
    const ok = await save.run(async () => {
      created = await api.post<{ name: string; token: string }>("/tokens", {
        name: name.trim(),
        role,
        ...(lifetime ? { expiresInSeconds: Number(lifetime) } : {}),
      });
    });
    if (ok) props.onDone(created);
  };
  return (
    <form className="card" onSubmit={submit} aria-label="New token">
      <div className="row">
        <TextField
          label="Name (who or what uses it)"
          name="name"
          required
          maxLength={200}
          value={name}
          onChange={setName}
        />
        <SelectField label="Role" name="role" value={role} onChange={setRole} options={ROLES} />
        <SelectField
          label="Lifetime"
          name="lifetime"
          value={lifetime}
          onChange={setLifetime}
          options={LIFETIMES}
        />
      </div>
      <ErrorBanner error={save.error} />
      <FormButtons submit="Create token" busy={save.busy} onCancel={() => props.onDone()} />
    </form>
  );
}
