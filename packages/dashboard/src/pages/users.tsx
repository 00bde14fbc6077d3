// Sign-in users (admins): the people who sign in to this dashboard with a username and password,
// with their roles. A generated password is shown once, as the API answers it once; setting a
// password or removing a user ends the user's sessions. Anyone signed in with a password changes
// their own password here too.

import { type FormEvent, useState } from "react";
import { ApiError, api } from "../api.ts";
import type { DashboardUser, DashboardUserCreated, Page, SessionView } from "../types.ts";
import {
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

const ROLES = [
  ["viewer", "viewer: sees everything, changes nothing"],
  ["editor", "editor: changes policies, lists, locations, settings"],
  ["admin", "admin: also users, tokens, edges and imports"],
] as const;

export function UsersPage() {
  const users = useResource("users", (signal) =>
    api.get<Page<DashboardUser>>("/users", { limit: 1000 }, signal),
  );
  const me = useResource("session", (signal) =>
    api.get<SessionView>("/auth/session", undefined, signal),
  );
  const [creating, setCreating] = useState(false);
  const [issued, setIssued] = useState<{ who: string; password: string } | undefined>(undefined);
  const action = useAction();
  const forbidden = users.error instanceof ApiError && users.error.status === 403;
  const items = users.data?.items ?? [];
  return (
    <section>
      <PageHead title="Sign-in users">
        {!creating && !forbidden && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New user
          </button>
        )}
      </PageHead>
      {creating && (
        <UserForm
          onDone={(created) => {
            setCreating(false);
            if (created) {
              if (created.password)
                setIssued({
                  who: `The password of “${created.username}”`,
                  password: created.password,
                });
              users.reload();
            }
          }}
        />
      )}
      {issued && <SecretNotice what={issued.who} secret={issued.password} />}
      {me.data?.via === "password" && <OwnPassword />}
      {forbidden ? (
        <Notice>Only an admin may see and manage sign-in users.</Notice>
      ) : (
        <ErrorBanner error={users.error ?? action.error} />
      )}
      {!forbidden && (
        <table aria-label="Sign-in users">
          <thead>
            <tr>
              <th>Username</th>
              <th>Role</th>
              <th>Password set</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {items.map((u) => (
              <tr key={u.id}>
                <td>
                  {u.username}
                  {u.username === me.data?.username && <div className="hint">you</div>}
                </td>
                <td>{u.role}</td>
                <td>{formatTime(u.passwordChangedAt)}</td>
                <td>
                  {formatTime(u.createdAt)}
                  <div className="hint">by {u.createdBy}</div>
                </td>
                <td className="actions">
                  <ConfirmButton
                    question={`Give "${u.username}" a new generated password? Their sessions end.`}
                    onConfirm={() =>
                      action.run(async () => {
                        const r = await api.put<{ password: string | null }>(
                          `/users/${encodeURIComponent(u.id)}/password`,
                          {},
                        );
                        if (r.password)
                          setIssued({
                            who: `The new password of “${u.username}”`,
                            password: r.password,
                          });
                        users.reload();
                      })
                    }
                  >
                    New password
                  </ConfirmButton>
                  <ConfirmButton
                    question={`Remove "${u.username}"? Their sessions end.`}
                    onConfirm={() =>
                      action.run(async () => {
                        await api.del(`/users/${encodeURIComponent(u.id)}`);
                        users.reload();
                      })
                    }
                  >
                    Remove
                  </ConfirmButton>
                </td>
              </tr>
            ))}
            <EmptyRow cols={5} show={!!users.data && items.length === 0}>
              No sign-in users: sign in with an API token, or run{" "}
              <code>gatehouse admin password</code>.
            </EmptyRow>
          </tbody>
        </table>
      )}
    </section>
  );
}

function UserForm(props: { onDone: (created?: DashboardUserCreated) => void }) {
  const [username, setUsername] = useState("");
  const [role, setRole] = useState("viewer");
  const [password, setPassword] = useState("");
  const save = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    let created: DashboardUserCreated | undefined;
    const ok = await save.run(async () => {
      created = await api.post<DashboardUserCreated>("/users", {
        username: username.trim(),
        role,
        ...(password ? { password } : {}),
      });
    });
    if (ok) props.onDone(created);
  };
  return (
    <form className="card" onSubmit={submit} aria-label="New user">
      <div className="row">
        <TextField
          label="Username"
          name="username"
          required
          maxLength={64}
          autoComplete="off"
          value={username}
          onChange={setUsername}
        />
        <SelectField label="Role" name="role" value={role} onChange={setRole} options={ROLES} />
        <TextField
          label="Password (empty: generate one)"
          type="password"
          name="password"
          autoComplete="new-password"
          minLength={10}
          value={password}
          onChange={setPassword}
        />
      </div>
      <ErrorBanner error={save.error} />
      <FormButtons submit="Create user" busy={save.busy} onCancel={() => props.onDone()} />
    </form>
  );
}

function OwnPassword() {
  const [open, setOpen] = useState(false);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const save = useAction();
  if (!open)
    return (
      <p>
        {done && "Your password was changed; your other sessions ended. "}
        <button type="button" className="link" onClick={() => setOpen(true)}>
          Change my password
        </button>
      </p>
    );
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const ok = await save.run(() =>
      api.put<void>("/auth/password", { currentPassword: current, newPassword: next }),
    );
    if (ok) {
      setOpen(false);
      setDone(true);
      setCurrent("");
      setNext("");
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-label="Change my password">
      <div className="row">
        <TextField
          label="Current password"
          type="password"
          name="currentPassword"
          autoComplete="current-password"
          required
          value={current}
          onChange={setCurrent}
        />
        <TextField
          label="New password (at least 10 characters)"
          type="password"
          name="newPassword"
          autoComplete="new-password"
          minLength={10}
          required
          value={next}
          onChange={setNext}
        />
      </div>
      <ErrorBanner error={save.error} />
      <FormButtons submit="Change password" busy={save.busy} onCancel={() => setOpen(false)} />
    </form>
  );
}
