// Shared pieces: loading an API resource, showing errors, buttons that confirm, small formatters.

import {
  Fragment,
  type InputHTMLAttributes,
  type ReactNode,
  type SelectHTMLAttributes,
  type TextareaHTMLAttributes,
  useCallback,
  useEffect,
  useId,
  useRef,
  useState,
} from "react";
import { ApiError, describeError } from "./api.ts";

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/**
 * Load `fetcher` when `key` changes (and on reload()); an answer to an older key is dropped,
 * and so is the data of the key before (a new filter or page never shows the old rows as its
 * own). A reload or a poll (`pollMs`) keeps showing the data until the new answer.
 */
export function useResource<T>(
  key: string,
  fetcher: (signal: AbortSignal) => Promise<T>,
  pollMs?: number,
): Resource<T> {
  const [state, setState] = useState<{ key: string; data?: T; error?: unknown; loading: boolean }>({
    key,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  const fetchRef = useRef(fetcher);
  fetchRef.current = fetcher;
  // biome-ignore lint/correctness/useExhaustiveDependencies: key and tick are the triggers; fetcher is read through a ref
  useEffect(() => {
    const ctl = new AbortController();
    setState((s) => (s.key === key ? { ...s, loading: true } : { key, loading: true }));
    fetchRef.current(ctl.signal).then(
      (data) => {
        if (!ctl.signal.aborted) setState({ key, data, loading: false });
      },
      (error: unknown) => {
        if (!ctl.signal.aborted)
          setState((s) => ({
            key,
            data: s.key === key ? s.data : undefined,
            error,
            loading: false,
          }));
      },
    );
    return () => ctl.abort();
  }, [key, tick]);
  useEffect(() => {
    if (!pollMs) return;
    const t = setInterval(() => setTick((n) => n + 1), pollMs);
    return () => clearInterval(t);
  }, [pollMs]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  if (state.key !== key) return { data: undefined, error: undefined, loading: true, reload };
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

export function ErrorBanner({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  return (
    <div className="error" role="alert">
      {describeError(error)}
    </div>
  );
}

/**
 * A form's error: under a one-a-line field, naming the line, when the API's validation names
 * an item of `lineField` (`/networks/2` is line 3); else a banner.
 */
export function FormError({ error, lineField }: { error: unknown; lineField: string }) {
  const m =
    error instanceof ApiError ? new RegExp(`^/${lineField}/(\\d+)`).exec(error.path ?? "") : null;
  if (!m) return <ErrorBanner error={error} />;
  return (
    <div className="field-error" role="alert">
      {(error as ApiError).message} (line {Number(m[1]) + 1})
    </div>
  );
}

/** A secret the API answers once (a token, a password): say so, and make it easy to copy. */
export function SecretNotice(props: { what: ReactNode; secret: string }) {
  return (
    <Notice>
      {props.what} (shown this once, copy it now): <code className="secret">{props.secret}</code>
    </Notice>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <div className="notice" role="status">
      {children}
    </div>
  );
}

/** Runs an action, disables itself while it runs and shows what failed. */
export function useAction(): {
  busy: boolean;
  error: unknown;
  run: (fn: () => Promise<void>) => Promise<boolean>;
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = useCallback(async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(undefined) };
}

/** A button that asks first (for deletes and other changes that cannot be undone). */
export function ConfirmButton(props: {
  question: string;
  onConfirm: () => void;
  children: ReactNode;
  disabled?: boolean;
  className?: string;
}) {
  return (
    <button
      type="button"
      className={props.className ?? "danger"}
      disabled={props.disabled}
      onClick={() => {
        if (window.confirm(props.question)) props.onConfirm();
      }}
    >
      {props.children}
    </button>
  );
}

/** A coloured word for a state (`value` picks the colour; `text` is what it says). */
export function Badge({ value, text }: { value: string; text?: string }) {
  return <span className={`badge badge-${value.replace(/[^a-z_]/g, "")}`}>{text ?? value}</span>;
}

export function formatTime(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleString();
}

export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86_400)
    return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86_400)} d ${Math.floor((seconds % 86_400) / 3600)} h`;
}

/** Lines of a textarea, trimmed, without blanks. */
export function lines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** Cursor paging: remembers the cursors of the pages before, so "Previous" works. */
export function useCursorPages(resetKey: string): {
  cursor: string | undefined;
  page: number;
  next: (cursor: string) => void;
  prev: () => void;
} {
  const [stack, setStack] = useState<{ key: string; cursors: (string | undefined)[] }>({
    key: resetKey,
    cursors: [undefined],
  });
  const cursors = stack.key === resetKey ? stack.cursors : [undefined];
  return {
    cursor: cursors[cursors.length - 1],
    page: cursors.length,
    next: (cursor) => setStack({ key: resetKey, cursors: [...cursors, cursor] }),
    prev: () =>
      setStack({ key: resetKey, cursors: cursors.length > 1 ? cursors.slice(0, -1) : cursors }),
  };
}

/** Previous/next over a cursor-paged collection (`nextCursor` of the page shown). */
export function CursorPager(props: {
  pages: ReturnType<typeof useCursorPages>;
  nextCursor: string | null | undefined;
}) {
  const { pages, nextCursor } = props;
  return (
    <div className="pager">
      <button type="button" disabled={pages.page <= 1} onClick={pages.prev}>
        ← Previous
      </button>
      <span>Page {pages.page}</span>
      <button
        type="button"
        disabled={!nextCursor}
        onClick={() => nextCursor && pages.next(nextCursor)}
      >
        Next →
      </button>
    </div>
  );
}

export function PageHead(props: { title: ReactNode; children?: ReactNode }) {
  return (
    <header className="page-head">
      <h1>{props.title}</h1>
      {props.children}
    </header>
  );
}

/** The one row of an empty table (shown once the data has loaded). */
export function EmptyRow(props: { cols: number; show: boolean; children: ReactNode }) {
  if (!props.show) return null;
  return (
    <tr>
      <td colSpan={props.cols} className="empty">
        {props.children}
      </td>
    </tr>
  );
}

/** What a page's create/edit form is open for: a new item, an existing one, or nothing. */
type Editing<T> = T | "new" | undefined;

interface Editor<T> {
  editing: Editing<T>;
  open: (what: T | "new") => void;
  /** Close the form; reload the page's data when it changed something. */
  close: (changed: boolean) => void;
}

export function useEditor<T>(reload: () => void): Editor<T> {
  const [editing, setEditing] = useState<Editing<T>>(undefined);
  return {
    editing,
    open: setEditing,
    close: (changed) => {
      setEditing(undefined);
      if (changed) reload();
    },
  };
}

/** The "New …" button, hidden while a form is open. */
export function NewButton<T>({ editor, label }: { editor: Editor<T>; label: string }) {
  if (editor.editing !== undefined) return null;
  return (
    <button type="button" className="primary" onClick={() => editor.open("new")}>
      {label}
    </button>
  );
}

/** Mounts the form for what is being edited (a fresh form per item). */
export function EditorSlot<T extends { id: string }>(props: {
  editor: Editor<T>;
  render: (item: T | undefined, onDone: (changed: boolean) => void) => ReactNode;
}) {
  const { editing, close } = props.editor;
  if (editing === undefined) return null;
  const item = editing === "new" ? undefined : editing;
  return <Fragment key={item?.id ?? "new"}>{props.render(item, close)}</Fragment>;
}

/** A form's submit and cancel buttons (and any others between them). */
export function FormButtons(props: {
  submit: string;
  busy: boolean;
  onCancel: () => void;
  children?: ReactNode;
}) {
  return (
    <div className="buttons">
      <button type="submit" className="primary" disabled={props.busy}>
        {props.submit}
      </button>
      {props.children}
      <button type="button" onClick={props.onCancel}>
        Cancel
      </button>
    </div>
  );
}

type Labelled<A> = Omit<A, "value" | "onChange"> & {
  label: ReactNode;
  value: string;
  onChange: (value: string) => void;
};

/** A label above its control, tied by id (a wrapping label would take a select's options in). */
function Field(props: { label: ReactNode; children: (id: string) => ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.children(id)}
    </div>
  );
}

export function TextField({
  label,
  value,
  onChange,
  ...rest
}: Labelled<InputHTMLAttributes<HTMLInputElement>>) {
  return (
    <Field label={label}>
      {(id) => <input {...rest} id={id} value={value} onChange={(e) => onChange(e.target.value)} />}
    </Field>
  );
}

export function TextArea({
  label,
  value,
  onChange,
  ...rest
}: Labelled<TextareaHTMLAttributes<HTMLTextAreaElement>>) {
  return (
    <Field label={label}>
      {(id) => (
        <textarea
          spellCheck={false}
          {...rest}
          id={id}
          value={value}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

/** A checkbox with its label after it, on one line. */
export function Checkbox(props: {
  label: ReactNode;
  name: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
}) {
  return (
    <label className="inline">
      <input
        type="checkbox"
        name={props.name}
        checked={props.checked}
        onChange={(e) => props.onChange(e.target.checked)}
      />
      {props.label}
    </label>
  );
}

/** A select of `options`: values, or [value, label] pairs. */
export function SelectField({
  label,
  value,
  onChange,
  options,
  ...rest
}: Labelled<SelectHTMLAttributes<HTMLSelectElement>> & {
  options: readonly (string | readonly [string, string])[];
}) {
  return (
    <Field label={label}>
      {(id) => (
        <select {...rest} id={id} value={value} onChange={(e) => onChange(e.target.value)}>
          {options.map((o) => {
            const [v, text] = typeof o === "string" ? [o, o] : o;
            return (
              <option key={v} value={v}>
                {text}
              </option>
            );
          })}
        </select>
      )}
    </Field>
  );
}
