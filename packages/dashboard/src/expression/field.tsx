// The policy form's expression: a CodeMirror 6 editor (highlighting, completion of the scheme's
// fields and functions and the account's `$lists`, the API's diagnostics drawn at their spans)
// and a builder (field, operator and value rows joined by and/or, with one level of groups in
// parentheses) that writes the expression and reads it back when it has that shape. Loaded on demand (React.lazy): the editor
// and the rules parser are a chunk of their own that only the policy form fetches.

import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
} from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { type Diagnostic, setDiagnostics } from "@codemirror/lint";
import { Compartment, EditorState } from "@codemirror/state";
import { EditorView, keymap, placeholder as placeholderText } from "@codemirror/view";
import { SCHEMES } from "@gatehouse/contract/schemes";
import { Scheme } from "@gatehouse/rules";
import { tags } from "@lezer/highlight";
import { useEffect, useMemo, useRef, useState } from "react";
import type { PolicyType } from "../types.ts";
import {
  builderFields,
  expressionFromRows,
  type Item,
  isGroup,
  type Join,
  operatorsFor,
  type Row,
  type Rows,
  rowForField,
  rowsFromExpression,
  valueKind,
} from "./builder.ts";
import { type ListName, rulesCompletion, rulesLanguage } from "./language.ts";

/** One problem the API found in the expression, at its span (UTF-16 offsets). */
export interface ExpressionProblem {
  readonly message: string;
  readonly kind?: string;
  readonly start: number;
  readonly length: number;
}

export interface ExpressionFieldProps {
  readonly type: PolicyType;
  readonly value: string;
  readonly onChange: (value: string) => void;
  readonly problems: readonly ExpressionProblem[];
  readonly placeholder: string;
  readonly lists: readonly ListName[];
}

const schemes = new Map<PolicyType, Scheme>();
function schemeOf(type: PolicyType): Scheme {
  let s = schemes.get(type);
  if (!s) {
    s = new Scheme(SCHEMES[type]);
    schemes.set(type, s);
  }
  return s;
}

/** Which list types a field of each kind may be compared with (contract's LIST_RULE_TYPE). */
const LIST_TYPES_FOR: Readonly<Record<string, readonly string[]>> = {
  Bytes: ["domain", "string"],
  Ip: ["ip"],
  Int: ["int"],
};

export default function ExpressionField(props: ExpressionFieldProps) {
  const [mode, setMode] = useState<"text" | "builder">("text");
  const [rows, setRows] = useState<Rows>({ join: "and", rows: [] });
  const [refused, setRefused] = useState<string | undefined>(undefined);
  const scheme = schemeOf(props.type);
  const toBuilder = () => {
    const r = rowsFromExpression(scheme, props.value);
    if (!r.ok) {
      setRefused(r.reason);
      return;
    }
    setRefused(undefined);
    setRows(
      r.value.rows.length ? r.value : { join: "and", rows: [{ field: "", op: "eq", value: "" }] },
    );
    setMode("builder");
  };
  const changeRows = (next: Rows) => {
    setRows(next);
    props.onChange(expressionFromRows(scheme, next));
  };
  return (
    <div className="field expression-field">
      <div className="expression-head">
        <span className="label">Expression</span>
        <div className="tabs">
          <button
            type="button"
            aria-pressed={mode === "text"}
            onClick={() => {
              setMode("text");
              setRefused(undefined);
            }}
          >
            Text
          </button>
          <button type="button" aria-pressed={mode === "builder"} onClick={toBuilder}>
            Builder
          </button>
        </div>
      </div>
      {refused && (
        <div className="notice" role="status">
          The builder cannot show this expression as rows: {refused}. Edit it as text, or clear it
          to start with the builder.
        </div>
      )}
      {mode === "text" ? (
        <CodeEditor {...props} scheme={scheme} />
      ) : (
        <Builder
          scheme={scheme}
          rows={rows}
          onChange={changeRows}
          lists={props.lists}
          expression={props.value}
        />
      )}
    </div>
  );
}

function CodeEditor(props: ExpressionFieldProps & { scheme: Scheme }) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChange = useRef(props.onChange);
  onChange.current = props.onChange;
  const lists = useRef(props.lists);
  lists.current = props.lists;
  // What the editor reported and React has not rendered back yet, oldest first: React may render
  // with one of those after the editor has moved on (keys typed faster than the page re-renders),
  // and that is no outside change.
  const emitted = useRef<string[]>([]);
  const language = useMemo(() => new Compartment(), []);
  const invalid = useMemo(() => new Compartment(), []);

  // biome-ignore lint/correctness/useExhaustiveDependencies: made once; later changes are dispatched below.
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    // A shadow root: CodeMirror then puts its styles in an adopted style sheet, which the
    // dashboard's Content-Security-Policy (style-src 'self', no inline <style>) allows.
    const root = el.shadowRoot ?? el.attachShadow({ mode: "open" });
    const v = new EditorView({
      root,
      parent: root,
      state: EditorState.create({
        doc: props.value,
        extensions: [
          history(),
          closeBrackets(),
          keymap.of([
            ...closeBracketsKeymap,
            ...defaultKeymap,
            ...historyKeymap,
            ...completionKeymap,
          ]),
          EditorView.lineWrapping,
          placeholderText(props.placeholder),
          EditorView.contentAttributes.of({
            "aria-label": "Expression",
            spellcheck: "false",
            autocapitalize: "off",
            autocorrect: "off",
          }),
          invalid.of(invalidAttrs(props.problems.length > 0)),
          language.of(languageOf(props.type, props.scheme, lists)),
          syntaxHighlighting(highlight),
          theme,
          EditorView.updateListener.of((u) => {
            if (!u.docChanged) return;
            const text = u.state.doc.toString();
            emitted.current.push(text);
            if (emitted.current.length > 64) emitted.current.shift();
            onChange.current(text);
          }),
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
  }, []);

  // The value changed from outside (the builder, a reset): replace the text. A value the editor
  // reported itself is an echo, perhaps of an older keystroke: replacing the text with it would
  // drop what was typed since.
  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const echo = emitted.current.indexOf(props.value);
    if (echo !== -1) {
      emitted.current.splice(0, echo + 1); // this one and the older ones have come back
      return;
    }
    if (v.state.doc.toString() === props.value) return;
    emitted.current = [];
    v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: props.value } });
  }, [props.value]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: the scheme follows the type.
  useEffect(() => {
    view.current?.dispatch({
      effects: language.reconfigure(languageOf(props.type, props.scheme, lists)),
    });
  }, [props.type]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const len = v.state.doc.length;
    const diagnostics: Diagnostic[] = props.problems.map((p) => {
      const from = Math.min(Math.max(p.start, 0), len);
      return {
        from,
        to: Math.min(from + Math.max(p.length, 0), len),
        severity: "error",
        message: p.kind ? `${p.kind}: ${p.message}` : p.message,
      };
    });
    v.dispatch(setDiagnostics(v.state, diagnostics));
    v.dispatch({ effects: invalid.reconfigure(invalidAttrs(diagnostics.length > 0)) });
  }, [props.problems, invalid]);

  return <div ref={host} className="code-editor" />;
}

/** Highlighting and completion for a policy type; `lists` is read when completion runs. */
function languageOf(
  type: PolicyType,
  scheme: Scheme,
  lists: { readonly current: readonly ListName[] },
) {
  return [
    rulesLanguage(scheme),
    autocompletion({
      override: [
        rulesCompletion(scheme, () => lists.current, Object.keys(SCHEMES[type].aliases ?? {})),
      ],
      icons: false,
    }),
  ];
}

function invalidAttrs(bad: boolean) {
  return EditorView.contentAttributes.of(bad ? { "aria-invalid": "true" } : {});
}

const EMPTY_ROW: Row = { field: "", op: "eq", value: "" };

/** One row's boxes: field, operator, value; `n` names them ("2", or "3.1" inside a group). */
function RowEditor(props: {
  scheme: Scheme;
  row: Row;
  n: string;
  join: Join | undefined;
  lists: readonly ListName[];
  onChange: (row: Row) => void;
  onRemove: () => void;
}) {
  const { row, n } = props;
  const fields = builderFields(props.scheme);
  const field = fields.find((f) => f.name === row.field);
  const ops = field ? operatorsFor(field) : [];
  const kind = valueKind(row.op);
  const listTypes = field ? (LIST_TYPES_FOR[field.kind] ?? []) : [];
  const set = props.onChange;
  return (
    <div className="builder-row">
      {props.join && <span className="join">{props.join}</span>}
      <select
        aria-label={`Field ${n}`}
        value={row.field}
        onChange={(e) => set(rowForField(props.scheme, row, e.target.value))}
      >
        <option value="">Field…</option>
        {fields.map((f) => (
          <option key={f.name} value={f.name}>
            {f.name}
          </option>
        ))}
      </select>
      <select
        aria-label={`Operator ${n}`}
        value={row.op}
        disabled={!field}
        onChange={(e) => {
          const op = e.target.value as Row["op"];
          set({ ...row, op, value: valueKind(op) === kind ? row.value : "" });
        }}
      >
        {ops.map((o) => (
          <option key={o.id} value={o.id}>
            {o.label}
          </option>
        ))}
      </select>
      {kind === "list" ? (
        <select
          aria-label={`Value ${n}`}
          value={row.value}
          onChange={(e) => set({ ...row, value: e.target.value })}
        >
          <option value="">List…</option>
          {props.lists
            .filter((l) => listTypes.includes(l.type) || l.name === row.value)
            .map((l) => (
              <option key={l.name} value={l.name}>
                ${l.name}
              </option>
            ))}
          {row.value && !props.lists.some((l) => l.name === row.value) && (
            <option value={row.value}>${row.value} (no such list)</option>
          )}
        </select>
      ) : kind === "none" ? null : (
        <input
          aria-label={`Value ${n}`}
          value={row.value}
          spellCheck={false}
          placeholder={
            kind === "set" ? "values separated by spaces" : valuePlaceholder(field?.kind)
          }
          onChange={(e) => set({ ...row, value: e.target.value })}
        />
      )}
      <button type="button" aria-label={`Remove condition ${n}`} onClick={props.onRemove}>
        ✕
      </button>
    </div>
  );
}

function JoinSelect(props: { label: string; value: Join; onChange: (j: Join) => void }) {
  return (
    <select
      aria-label={props.label}
      value={props.value}
      onChange={(e) => props.onChange(e.target.value as Join)}
    >
      <option value="and">all of these (and)</option>
      <option value="or">any of these (or)</option>
    </select>
  );
}

/**
 * Rows joined by one and/or, and groups of rows (in parentheses, with their own and/or): one
 * level, as in `a and (b or c)`.
 */
function Builder(props: {
  scheme: Scheme;
  rows: Rows;
  onChange: (rows: Rows) => void;
  lists: readonly ListName[];
  expression: string;
}) {
  const items = props.rows.rows;
  const setItem = (i: number, item: Item) =>
    props.onChange({ ...props.rows, rows: items.map((r, j) => (j === i ? item : r)) });
  const remove = (i: number) =>
    props.onChange({ ...props.rows, rows: items.filter((_, j) => j !== i) });
  const other: Join = props.rows.join === "and" ? "or" : "and";
  return (
    <div className="builder">
      <label className="inline">
        Match
        <select
          aria-label="Join the conditions with"
          value={props.rows.join}
          onChange={(e) => props.onChange({ ...props.rows, join: e.target.value as Join })}
        >
          <option value="and">all of these (and)</option>
          <option value="or">any of these (or)</option>
        </select>
      </label>
      {items.map((item, i) => {
        const n = String(i + 1);
        const join = i > 0 ? props.rows.join : undefined;
        if (!isGroup(item))
          return (
            <RowEditor
              // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place.
              key={i}
              scheme={props.scheme}
              row={item}
              n={n}
              join={join}
              lists={props.lists}
              onChange={(row) => setItem(i, row)}
              onRemove={() => remove(i)}
            />
          );
        const setRows = (rows: Row[]) => setItem(i, { ...item, rows });
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: groups have no identity but their place.
          <fieldset className="builder-group" key={i} aria-label={`Group ${n}`}>
            <legend>
              {join && <span className="join">{join}</span>} (
              <JoinSelect
                label={`Join group ${n} with`}
                value={item.join}
                onChange={(j) => setItem(i, { ...item, join: j })}
              />
              )
            </legend>
            {item.rows.map((row, k) => (
              <RowEditor
                // biome-ignore lint/suspicious/noArrayIndexKey: rows have no identity but their place.
                key={k}
                scheme={props.scheme}
                row={row}
                n={`${n}.${k + 1}`}
                join={k > 0 ? item.join : undefined}
                lists={props.lists}
                onChange={(r) => setRows(item.rows.map((x, j) => (j === k ? r : x)))}
                onRemove={() =>
                  item.rows.length > 1 ? setRows(item.rows.filter((_, j) => j !== k)) : remove(i)
                }
              />
            ))}
            <div className="buttons">
              <button type="button" onClick={() => setRows([...item.rows, EMPTY_ROW])}>
                Add condition to group {n}
              </button>
              <button type="button" onClick={() => remove(i)}>
                Remove group {n}
              </button>
            </div>
          </fieldset>
        );
      })}
      <div className="buttons">
        <button
          type="button"
          onClick={() => props.onChange({ ...props.rows, rows: [...items, EMPTY_ROW] })}
        >
          Add condition
        </button>
        <button
          type="button"
          onClick={() =>
            props.onChange({
              ...props.rows,
              rows: [...items, { join: other, rows: [EMPTY_ROW, EMPTY_ROW] }],
            })
          }
        >
          Add group
        </button>
      </div>
      <div className="hint">
        Writes: <code className="expr">{props.expression || "(nothing yet)"}</code>
      </div>
    </div>
  );
}

function valuePlaceholder(kind: string | undefined): string {
  if (kind === "Ip") return "192.168.1.0/24";
  if (kind === "Int") return "443";
  return "text (quoted for you)";
}

const highlight = HighlightStyle.define([
  { tag: tags.keyword, color: "var(--accent)", fontWeight: "600" },
  { tag: tags.operator, color: "var(--accent)" },
  { tag: tags.propertyName, color: "var(--text)" },
  { tag: tags.function(tags.variableName), color: "var(--warn)" },
  { tag: tags.special(tags.variableName), color: "var(--allow)", fontWeight: "600" },
  { tag: tags.string, color: "var(--block)" },
  { tag: tags.number, color: "var(--warn)" },
  { tag: tags.invalid, textDecoration: "underline dotted" },
]);

const theme = EditorView.theme({
  "&": {
    color: "var(--text)",
    backgroundColor: "var(--input-bg, #fff)",
    border: "1px solid var(--line)",
    borderRadius: "4px",
    fontSize: "0.9em",
  },
  "&.cm-focused": { outline: "2px solid var(--accent)", outlineOffset: "-1px" },
  ".cm-content": {
    fontFamily: "ui-monospace, Menlo, Consolas, monospace",
    minHeight: "4.2em",
    padding: "0.35rem 0",
    caretColor: "var(--text)",
  },
  ".cm-line": { padding: "0 0.5rem" },
  ".cm-placeholder": { color: "var(--muted)" },
  ".cm-cursor": { borderLeftColor: "var(--text)" },
  ".cm-tooltip": {
    backgroundColor: "var(--panel)",
    color: "var(--text)",
    border: "1px solid var(--line)",
  },
  ".cm-tooltip-autocomplete > ul > li[aria-selected]": {
    backgroundColor: "var(--accent)",
    color: "var(--accent-text)",
  },
  ".cm-completionDetail": { color: "var(--muted)", marginLeft: "0.8em", fontStyle: "normal" },
  ".cm-diagnostic-error": { borderLeftColor: "var(--block)" },
  ".cm-lintRange-error": {
    backgroundImage: "none",
    textDecoration: "underline wavy var(--block)",
    backgroundColor: "color-mix(in srgb, var(--block) 18%, transparent)",
  },
});
