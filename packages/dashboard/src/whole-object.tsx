// Pages over one object the API replaces whole (GET, then PUT the same path): DNS settings and
// Settings. The form is built once from the loaded value; fields it does not show go back as
// they came.

import { Fragment, type ReactNode, useState } from "react";
import { api } from "./api.ts";
import { ErrorBanner, Notice, PageHead, useAction, useResource } from "./ui.tsx";

export function WholeObjectPage<T>(props: {
  title: string;
  path: string;
  children?: ReactNode;
  form: (current: T) => ReactNode;
}) {
  const res = useResource(props.path, (signal) => api.get<T>(props.path, undefined, signal));
  return (
    <section>
      <PageHead title={props.title} />
      {props.children}
      <ErrorBanner error={res.error} />
      {res.data !== undefined && (
        <Fragment key={JSON.stringify(res.data)}>{props.form(res.data)}</Fragment>
      )}
    </section>
  );
}

/** PUT the whole object; `saved` until the next attempt. */
export function useReplace<T>(path: string) {
  const action = useAction();
  const [saved, setSaved] = useState(false);
  return {
    busy: action.busy,
    error: action.error,
    saved,
    clear: action.clear,
    put: async (body: T) => {
      setSaved(false);
      setSaved(await action.run(() => api.put(path, body).then(() => undefined)));
    },
  };
}

/** The save button, and what a successful save means for the edges. */
export function SaveBar({ busy, saved }: { busy: boolean; saved: boolean }) {
  return (
    <>
      {saved && <Notice>Saved; edges get it with the next publish (in a moment).</Notice>}
      <div className="buttons">
        <button type="submit" className="primary" disabled={busy}>
          Save
        </button>
      </div>
    </>
  );
}
