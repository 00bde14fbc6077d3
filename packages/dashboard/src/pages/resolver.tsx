// DNS settings: the upstream resolvers every edge forwards to, how it picks among them, the
// answer cache and DNSSEC validation (docs/dns.md). PUT /resolver replaces the whole object, so fields this form does not show
// (conditional forwarding, rate limit, an upstream's CA) are sent back as they were.

import type { ResolverSettings, Upstream } from "@gatehouse/contract";
import { type FormEvent, useState } from "react";
import { Checkbox, FormError, lines, SelectField, TextArea, TextField } from "../ui.tsx";
import { SaveBar, useReplace, WholeObjectPage } from "../whole-object.tsx";

const STRATEGIES = [
  ["failover", "failover: the first that answers, in order"],
  ["fastest", "fastest: the one answering quickest lately"],
  ["parallel", "parallel: ask all, take the first answer"],
] as const;

export function ResolverPage() {
  return (
    <WholeObjectPage<ResolverSettings>
      title="DNS settings"
      path="/resolver"
      form={(current) => <ResolverForm current={current} />}
    >
      <p className="hint">
        Where edges send the queries no policy answers. Addresses are <code>udp://</code>,{" "}
        <code>tcp://</code>, <code>tls://</code> (DNS over TLS) or <code>https://</code> (DNS over
        HTTPS), e.g. <code>udp://192.168.1.1:53</code> or <code>https://dns.example/dns-query</code>
        .
      </p>
    </WholeObjectPage>
  );
}

function ResolverForm({ current }: { current: ResolverSettings }) {
  const [upstreams, setUpstreams] = useState(current.upstreams.map((u) => u.address).join("\n"));
  const [strategy, setStrategy] = useState<string>(current.strategy ?? "failover");
  const [maxEntries, setMaxEntries] = useState(String(current.cache?.maxEntries ?? ""));
  const [serveStale, setServeStale] = useState(current.cache?.serveStale ?? false);
  const [prefetch, setPrefetch] = useState(current.cache?.prefetch ?? false);
  const [validate, setValidate] = useState(current.dnssec?.validate ?? true);
  const [anchors, setAnchors] = useState(current.dnssec?.trustAnchors ?? "");
  const [negative, setNegative] = useState((current.dnssec?.negativeTrustAnchors ?? []).join("\n"));
  const save = useReplace<ResolverSettings>("/resolver");
  /** A text field's change clears the last save's result. */
  const edited = (set: (v: string) => void) => (v: string) => {
    set(v);
    save.clear();
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    // Keep what the form does not edit: an upstream's server name, CA and timeout by address.
    const before = new Map(current.upstreams.map((u) => [u.address, u]));
    const cache: NonNullable<ResolverSettings["cache"]> = {
      ...current.cache,
      serveStale,
      prefetch,
    };
    if (maxEntries.trim() === "") delete cache.maxEntries;
    else cache.maxEntries = Number(maxEntries);
    const dnssec: NonNullable<ResolverSettings["dnssec"]> = { validate };
    if (anchors.trim() !== "") dnssec.trustAnchors = anchors;
    const nta = lines(negative);
    if (nta.length > 0) dnssec.negativeTrustAnchors = nta;
    const body: ResolverSettings = {
      ...current,
      upstreams: lines(upstreams).map((address): Upstream => before.get(address) ?? { address }),
      strategy: strategy as ResolverSettings["strategy"],
      cache,
      dnssec,
    };
    await save.put(body);
  };
  return (
    <form className="card" onSubmit={submit} aria-label="DNS settings">
      <TextArea
        label="Upstream resolvers, one a line"
        name="upstreams"
        rows={4}
        value={upstreams}
        onChange={(v) => {
          setUpstreams(v);
          save.clear();
        }}
      />
      <FormError error={save.error} lineField="upstreams" />
      <div className="row">
        <SelectField
          label="Strategy"
          name="strategy"
          value={strategy}
          onChange={setStrategy}
          options={STRATEGIES}
        />
        <TextField
          label="Cache size (answers; empty: the edge's default)"
          name="maxEntries"
          type="number"
          min={0}
          value={maxEntries}
          onChange={setMaxEntries}
        />
      </div>
      <label className="inline">
        <input
          type="checkbox"
          checked={serveStale}
          onChange={(e) => setServeStale(e.target.checked)}
        />
        Answer from expired cache entries while upstreams fail (RFC 8767)
      </label>
      <label className="inline">
        <input type="checkbox" checked={prefetch} onChange={(e) => setPrefetch(e.target.checked)} />
        Refresh popular entries before they expire
      </label>
      <fieldset>
        <legend>DNSSEC</legend>
        <Checkbox
          label="Validate answers: signed ones get AD, forged or broken ones are refused (SERVFAIL)"
          name="dnssecValidate"
          checked={validate}
          onChange={setValidate}
        />
        <TextArea
          label="Trust anchors (DS or DNSKEY records, one a line; empty: IANA's root keys)"
          name="trustAnchors"
          rows={3}
          placeholder=". IN DS 20326 8 2 E06D44B8…"
          value={anchors}
          onChange={edited(setAnchors)}
        />
        <TextArea
          label="Not validated (negative trust anchors: domains, one a line)"
          name="negativeTrustAnchors"
          rows={2}
          placeholder="broken.example.org"
          value={negative}
          onChange={edited(setNegative)}
        />
      </fieldset>
      <SaveBar busy={save.busy} saved={save.saved} />
    </form>
  );
}
