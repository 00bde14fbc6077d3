// Policies: the table (by type, in precedence order), create and edit with the API's own
// validation (a 422 GH_ERR_INVALID_RULE's span is drawn under the expression), enable/disable
// and delete.

import { type FormEvent, lazy, Suspense, useEffect, useMemo, useState } from "react";
import { ApiError, api, request } from "../api.ts";
import type { ExpressionProblem } from "../expression/field.tsx";
import {
  type List,
  type Page,
  POLICY_ACTIONS,
  type Policy,
  type PolicyType,
  UNTRUSTED_ORIGIN_OPTIONS,
} from "../types.ts";
import {
  Badge,
  ConfirmButton,
  EditorSlot,
  EmptyRow,
  ErrorBanner,
  FormButtons,
  lines,
  NewButton,
  PageHead,
  SelectField,
  TextArea,
  TextField,
  useAction,
  useEditor,
  useResource,
} from "../ui.tsx";

/** The editor (CodeMirror and the rules parser) is a chunk of its own, fetched by this form only. */
const ExpressionField = lazy(() => import("../expression/field.tsx"));

const TYPES: readonly PolicyType[] = ["dns", "http", "net"];
const TYPE_OPTIONS = [
  ["dns", "DNS"],
  ["http", "HTTP"],
  ["net", "Network"],
] as const;
const BLOCK_MODES = [
  ["", "default (0.0.0.0 / ::)"],
  ["nxdomain", "NXDOMAIN"],
  ["refused", "REFUSED"],
  ["null", "0.0.0.0 / ::"],
  ["ip", "the block page's address"],
] as const;
const POLICY_UNTRUSTED_OPTIONS = [
  ["", "the organisation's setting"],
  ...UNTRUSTED_ORIGIN_OPTIONS,
] as const;

const EXAMPLES: Readonly<Record<PolicyType, string>> = {
  dns: "any(dns.domains[*] in $my_list)",
  http: 'http.request.uri.path matches "[.](exe|msi)$"',
  net: "net.dst.port in {22 3389}",
};

export function PoliciesPage() {
  const policies = useResource("policies", (signal) =>
    api.get<Page<Policy>>("/policies", { limit: 1000 }, signal),
  );
  const editor = useEditor<Policy>(policies.reload);
  const action = useAction();
  const items = [...(policies.data?.items ?? [])].sort(
    (a, b) => TYPES.indexOf(a.type) - TYPES.indexOf(b.type) || a.precedence - b.precedence,
  );
  const change = (p: Policy, fn: (path: string) => Promise<unknown>) =>
    action.run(async () => {
      await fn(`/policies/${encodeURIComponent(p.id)}`);
      policies.reload();
    });
  return (
    <section>
      <PageHead title="Policies">
        <NewButton editor={editor} label="New policy" />
      </PageHead>
      <p className="hint">
        Lower precedence runs first within a type; the first matching policy decides. Changes are
        published automatically after a short pause (or from <em>Publish</em>).
      </p>
      <EditorSlot
        editor={editor}
        render={(p, onDone) => <PolicyForm policy={p} onDone={onDone} />}
      />
      <ErrorBanner error={policies.error ?? action.error} />
      <table aria-label="Policies">
        <thead>
          <tr>
            <th>On</th>
            <th>Type</th>
            <th>#</th>
            <th>Name</th>
            <th>Action</th>
            <th>Expression</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items.map((p) => (
            <tr key={p.id} className={p.enabled ? undefined : "muted"}>
              <td>
                <input
                  type="checkbox"
                  checked={p.enabled}
                  disabled={action.busy}
                  aria-label={`${p.enabled ? "Disable" : "Enable"} ${p.name}`}
                  onChange={() => change(p, (path) => api.patch(path, { enabled: !p.enabled }))}
                />
              </td>
              <td>{p.type}</td>
              <td>{p.precedence}</td>
              <td>
                {p.name}
                {p.description && <div className="hint">{p.description}</div>}
              </td>
              <td>
                <Badge value={p.action} />
                <PrivateDestinations policy={p} />
              </td>
              <td>
                <code className="expr">{p.expression}</code>
              </td>
              <td className="actions">
                <button type="button" onClick={() => editor.open(p)}>
                  Edit
                </button>
                <ConfirmButton
                  question={`Delete the policy "${p.name}"?`}
                  onConfirm={() => change(p, api.del)}
                >
                  Delete
                </ConfirmButton>
              </td>
            </tr>
          ))}
          <EmptyRow cols={7} show={!!policies.data && items.length === 0}>
            No policies yet.
          </EmptyRow>
        </tbody>
      </table>
    </section>
  );
}

interface Draft {
  name: string;
  description: string;
  type: PolicyType;
  action: string;
  precedence: string;
  expression: string;
  overrideIps: string;
  blockMode: string;
  privateDestinations: string;
  untrustedOriginCert: string;
}

/** Proxy allow policies may list internal addresses the proxy may dial (the one way to lift
 * its private-address guard): shown in the table so nobody has to open the form to see it. */
function PrivateDestinations({ policy }: { policy: Policy }) {
  const list = policy.settings?.allowPrivateDestinations;
  if (!list?.length) return null;
  return (
    <div className="private-destinations">
      <Badge value="warn" text="reaches internal addresses" />{" "}
      <code title="settings.allowPrivateDestinations">{list.join(", ")}</code>
    </div>
  );
}

/** Where the private-address opt-in means something (the API refuses it elsewhere). */
function takesPrivateDestinations(d: Pick<Draft, "type" | "action">): boolean {
  return d.type !== "dns" && d.action === "allow";
}

function draftOf(p: Policy | undefined): Draft {
  return {
    name: p?.name ?? "",
    description: p?.description ?? "",
    type: p?.type ?? "dns",
    action: p?.action ?? "block",
    precedence: p ? String(p.precedence) : "",
    expression: p?.expression ?? "",
    overrideIps: (p?.settings?.overrideIps ?? []).join("\n"),
    blockMode: p?.settings?.blockMode ?? "",
    privateDestinations: (p?.settings?.allowPrivateDestinations ?? []).join("\n"),
    untrustedOriginCert: p?.settings?.untrustedOriginCert ?? "",
  };
}

function bodyOf(d: Draft, existing: Policy | undefined): Record<string, unknown> {
  const settings: Record<string, unknown> = { ...(existing?.settings ?? {}) };
  delete settings["overrideIps"];
  delete settings["blockMode"];
  delete settings["allowPrivateDestinations"];
  delete settings["untrustedOriginCert"];
  if (d.type === "http" && d.action === "allow" && d.untrustedOriginCert)
    settings["untrustedOriginCert"] = d.untrustedOriginCert;
  if (takesPrivateDestinations(d) && lines(d.privateDestinations).length)
    settings["allowPrivateDestinations"] = lines(d.privateDestinations);
  if (d.action === "override" && lines(d.overrideIps).length)
    settings["overrideIps"] = lines(d.overrideIps);
  if (d.type === "dns" && d.action === "block" && d.blockMode) settings["blockMode"] = d.blockMode;
  const body: Record<string, unknown> = {
    name: d.name.trim(),
    type: d.type,
    action: d.action,
    expression: d.expression,
  };
  if (existing) {
    body["description"] = d.description.trim() || null;
    body["settings"] = Object.keys(settings).length ? settings : null;
  } else {
    if (d.description.trim()) body["description"] = d.description.trim();
    if (Object.keys(settings).length) body["settings"] = settings;
  }
  if (d.precedence.trim() !== "") body["precedence"] = Number(d.precedence);
  return body;
}

function PolicyForm(props: { policy: Policy | undefined; onDone: (changed: boolean) => void }) {
  const [d, setD] = useState<Draft>(() => draftOf(props.policy));
  const save = useAction();
  const live = useExpressionCheck(d.type, d.expression);
  const lists = useResource("policy-form-lists", (signal) =>
    api.get<Page<List>>("/lists", { limit: 1000 }, signal),
  );
  const listNames = useMemo(
    () => (lists.data?.items ?? []).map((l) => ({ name: l.name, type: l.type })),
    [lists.data],
  );
  const set = <K extends keyof Draft>(k: K, v: Draft[K]) => {
    setD((x) => ({ ...x, [k]: v }));
    save.clear();
  };
  const onType = (type: PolicyType) => {
    const actions: readonly string[] = POLICY_ACTIONS[type];
    // Every policy type has at least one action; keep the current one when the type allows it.
    setD((x) => ({
      ...x,
      type,
      action: actions.includes(x.action) ? x.action : (actions[0] ?? x.action),
    }));
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = bodyOf(d, props.policy);
    const ok = await save.run(async () => {
      if (props.policy) await api.patch(`/policies/${encodeURIComponent(props.policy.id)}`, body);
      else await api.post("/policies", body);
    });
    if (ok) props.onDone(true);
  };
  const err = save.error;
  const ruleError =
    (err instanceof ApiError && err.code === "GH_ERR_INVALID_RULE" ? err : undefined) ??
    live?.error;
  const expressionError =
    !ruleError && err instanceof ApiError && err.path?.startsWith("/expression")
      ? err.message
      : undefined;
  return (
    <form
      className="card"
      onSubmit={submit}
      aria-label={props.policy ? "Edit policy" : "New policy"}
    >
      <h2>{props.policy ? `Edit “${props.policy.name}”` : "New policy"}</h2>
      <div className="row">
        <TextField
          label="Name"
          name="name"
          required
          maxLength={200}
          value={d.name}
          onChange={(v) => set("name", v)}
        />
        <SelectField
          label="Type"
          name="type"
          value={d.type}
          onChange={(v) => onType(v as PolicyType)}
          options={TYPE_OPTIONS}
        />
        <SelectField
          label="Action"
          name="action"
          value={d.action}
          onChange={(v) => set("action", v)}
          options={POLICY_ACTIONS[d.type]}
        />
        <TextField
          label="Precedence"
          name="precedence"
          type="number"
          min={0}
          placeholder="last"
          value={d.precedence}
          onChange={(v) => set("precedence", v)}
        />
      </div>
      <Suspense
        fallback={
          <TextArea
            label="Expression"
            name="expression"
            required
            rows={3}
            className={ruleError ? "invalid" : undefined}
            aria-invalid={ruleError ? true : undefined}
            placeholder={EXAMPLES[d.type]}
            value={d.expression}
            onChange={(v) => set("expression", v)}
          />
        }
      >
        <ExpressionField
          type={d.type}
          value={d.expression}
          onChange={(v) => set("expression", v)}
          problems={problemsOf(ruleError)}
          placeholder={EXAMPLES[d.type]}
          lists={listNames}
        />
      </Suspense>
      {ruleError && <SpanError expression={d.expression} error={ruleError} />}
      {expressionError && <div className="field-error">{expressionError}</div>}
      {live && !ruleError && <div className="field-ok">The expression compiles.</div>}
      {d.action === "override" && (
        <TextArea
          label="Answer with these IP addresses (one a line)"
          name="overrideIps"
          rows={2}
          value={d.overrideIps}
          onChange={(v) => set("overrideIps", v)}
        />
      )}
      {d.type === "dns" && d.action === "block" && (
        <SelectField
          label="Blocked answer"
          name="blockMode"
          value={d.blockMode}
          onChange={(v) => set("blockMode", v)}
          options={BLOCK_MODES}
        />
      )}
      {d.type === "http" && d.action === "allow" && (
        <SelectField
          label="Origin certificate that does not verify (inspected requests)"
          name="untrustedOriginCert"
          value={d.untrustedOriginCert}
          onChange={(v) => set("untrustedOriginCert", v)}
          options={POLICY_UNTRUSTED_OPTIONS}
        />
      )}
      {takesPrivateDestinations(d) && (
        <>
          <TextArea
            label="Internal addresses this policy may reach (IPs or CIDRs, one a line)"
            name="privateDestinations"
            rows={2}
            placeholder="10.20.0.0/16"
            value={d.privateDestinations}
            onChange={(v) => set("privateDestinations", v)}
          />
          <p className="hint">
            The proxy refuses loopback, private, link-local and other internal destinations. Only
            the addresses listed here are let through, and only for requests this policy allows;
            leave it empty to keep the guard whole.
          </p>
        </>
      )}
      <TextField
        label="Description"
        name="description"
        maxLength={2000}
        value={d.description}
        onChange={(v) => set("description", v)}
      />
      {err !== undefined && !ruleError && !expressionError && <ErrorBanner error={err} />}
      <FormButtons
        submit={props.policy ? "Save" : "Create policy"}
        busy={save.busy}
        onCancel={() => props.onDone(false)}
      />
    </form>
  );
}

/** How long typing pauses before the API checks the expression. */
const CHECK_DELAY_MS = 400;

/**
 * The API's verdict on an expression (POST /policies/validate, the same check a save runs),
 * asked once typing pauses; undefined until it answers for exactly this type and expression.
 * Only a rule error counts here: the action and settings are checked when the form is saved.
 */
function useExpressionCheck(
  type: PolicyType,
  expression: string,
): { type: PolicyType; expression: string; error?: ApiError } | undefined {
  const [verdict, setVerdict] = useState<
    { type: PolicyType; expression: string; error?: ApiError } | undefined
  >(undefined);
  useEffect(() => {
    if (!expression.trim()) return;
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      request("POST", "/policies/validate", {
        body: { type, expression },
        signal: ctl.signal,
      }).then(
        () => setVerdict({ type, expression }),
        (error: unknown) => {
          if (
            !ctl.signal.aborted &&
            error instanceof ApiError &&
            error.code === "GH_ERR_INVALID_RULE"
          )
            setVerdict({ type, expression, error });
        },
      );
    }, CHECK_DELAY_MS);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [type, expression]);
  return verdict?.type === type && verdict.expression === expression ? verdict : undefined;
}

const NO_PROBLEMS: readonly ExpressionProblem[] = [];
const problemCache = new WeakMap<ApiError, readonly ExpressionProblem[]>();

/** Every problem of a 422 GH_ERR_INVALID_RULE that has a span, for the editor to draw. */
function problemsOf(error: ApiError | undefined): readonly ExpressionProblem[] {
  if (!error) return NO_PROBLEMS;
  const cached = problemCache.get(error);
  if (cached) return cached;
  const listed = (error.details as { problems?: unknown } | undefined)?.problems;
  const out: ExpressionProblem[] = [];
  for (const p of Array.isArray(listed) ? listed : [error.details]) {
    const q = p as {
      message?: unknown;
      kind?: unknown;
      span?: { start?: unknown; length?: unknown };
    };
    if (typeof q?.span?.start !== "number" || typeof q.span.length !== "number") continue;
    out.push({
      message: typeof q.message === "string" ? q.message : error.message,
      ...(typeof q.kind === "string" ? { kind: q.kind } : {}),
      start: q.span.start,
      length: q.span.length,
    });
  }
  problemCache.set(error, out);
  return out;
}

/** The rules engine's message with the expression's offending part marked under the field. */
function SpanError({ expression, error }: { expression: string; error: ApiError }) {
  const span = error.span;
  const kind = (error.details as { kind?: string } | undefined)?.kind;
  if (!span)
    return (
      <div className="field-error" role="alert">
        {error.message}
      </div>
    );
  const start = Math.min(span.start, expression.length);
  const end = Math.min(start + Math.max(span.length, 0), expression.length);
  return (
    <div className="field-error span-error" role="alert">
      <div>
        {kind ? `${kind}: ` : ""}
        {error.message} (at character {span.start + 1})
      </div>
      <pre className="span" data-span-start={span.start} data-span-length={span.length}>
        {expression.slice(0, start)}
        <mark>{end > start ? expression.slice(start, end) : " "}</mark>
        {expression.slice(end)}
      </pre>
    </div>
  );
}
