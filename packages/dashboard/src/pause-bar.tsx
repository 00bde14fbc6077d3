// Pause blocking, on every page: a banner while blocking is paused (where, until when, by whom,
// with Resume), and for editors the buttons that pause it — 5 min, 1 h or until resumed, for
// every client or one location (a client's own pause is set on its page, and shown here too). Pausing and resuming publish at once (POST /pause, /pause/resume).

import { useEffect, useState } from "react";
import { api } from "./api.ts";
import { Link } from "./router.tsx";
import type { Location, Page, PauseState } from "./types.ts";
import { ErrorBanner, SelectField, useAction, useResource } from "./ui.tsx";

/** How often the banner asks again (a pause may end, or be set elsewhere). */
const POLL_MS = 15_000;
/** The lengths a pause may have: [label, minutes (undefined: until resumed)]. */
export const DURATIONS: readonly (readonly [string, number | undefined])[] = [
  ["5 min", 5],
  ["1 h", 60],
  ["Until resumed", undefined],
];

/** The event a page sends after it paused or resumed something, so the banner asks again. */
const PAUSE_CHANGED = "gatehouse:pause-changed";

export function notifyPauseChanged(): void {
  window.dispatchEvent(new Event(PAUSE_CHANGED));
}

export function untilText(until: string | null, now: number): string {
  if (until === null) return "until resumed";
  const end = Date.parse(until);
  const min = Math.max(1, Math.ceil((end - now) / 60_000));
  const at = new Date(end).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return `until ${at} (${min < 60 ? `${min} min` : `${Math.floor(min / 60)} h ${min % 60} min`} left)`;
}

export function PauseBar(props: { canChange: boolean }) {
  const state = useResource<PauseState>(
    "pause",
    (signal) => api.get("/pause", undefined, signal),
    POLL_MS,
  );
  const action = useAction();
  const { reload } = state;
  useEffect(() => {
    window.addEventListener(PAUSE_CHANGED, reload);
    return () => window.removeEventListener(PAUSE_CHANGED, reload);
  }, [reload]);
  const [open, setOpen] = useState(false);
  const [scope, setScope] = useState("");
  const locations = useResource<Page<Location> | undefined>(`pause-locations|${open}`, (signal) =>
    open ? api.get("/locations", { limit: 200 }, signal) : Promise.resolve(undefined),
  );
  const now = Date.now();
  // A pause whose end has passed is over, even before the next poll says so.
  const active = (state.data?.pauses ?? []).filter(
    (p) => p.until === null || Date.parse(p.until) > now,
  );
  const change = (path: string, body: object) =>
    action.run(async () => {
      await api.post<PauseState>(path, body);
      setOpen(false);
      state.reload();
    });
  return (
    <div className="pause-bar">
      {active.map((p) => (
        <div className="pause-banner" role="status" key={`${p.locationId ?? ""}|${p.client ?? ""}`}>
          <strong>
            Blocking is paused{" "}
            {p.client !== null ? (
              <>
                for client{" "}
                <Link to={`/clients/${encodeURIComponent(p.client)}`}>
                  {p.clientName ?? p.client}
                </Link>
              </>
            ) : p.locationId === null ? (
              "for every client"
            ) : (
              `in ${p.locationName ?? p.locationId}`
            )}
          </strong>{" "}
          {untilText(p.until, now)}, by {p.pausedBy}.
          {props.canChange && (
            <button
              type="button"
              className="pause-resume"
              disabled={action.busy}
              onClick={() =>
                change(
                  "/pause/resume",
                  p.client !== null
                    ? { client: p.client }
                    : p.locationId === null
                      ? {}
                      : { locationId: p.locationId },
                )
              }
            >
              Resume
              {p.client !== null
                ? ` for ${p.clientName ?? p.client}`
                : p.locationId === null
                  ? ""
                  : ` in ${p.locationName ?? p.locationId}`}
            </button>
          )}
        </div>
      ))}
      {props.canChange && !open && (
        <button type="button" className="secondary pause-open" onClick={() => setOpen(true)}>
          Pause blocking…
        </button>
      )}
      {props.canChange && open && (
        <form
          className="pause-form"
          aria-label="Pause blocking"
          onSubmit={(e) => e.preventDefault()}
        >
          <SelectField
            label="Pause blocking for"
            value={scope}
            onChange={setScope}
            options={[
              ["", "every client"],
              ...(locations.data?.items ?? []).map((l) => [l.id, `location ${l.name}`] as const),
            ]}
          />
          <div className="buttons">
            {DURATIONS.map(([label, minutes]) => (
              <button
                key={label}
                type="button"
                className="primary"
                disabled={action.busy}
                onClick={() =>
                  change("/pause", {
                    ...(minutes === undefined ? {} : { minutes }),
                    ...(scope ? { locationId: scope } : {}),
                  })
                }
              >
                {label}
              </button>
            ))}
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <ErrorBanner error={action.error ?? locations.error} />
    </div>
  );
}
