// Import from Pi-hole, AdGuard Home or Blocky (admins): the product's file goes to control as it
// is (POST /import/{product}); control maps it. "Preview" is a dry run that changes nothing and
// lists what would be created and what cannot be mapped; "Import" creates it and publishes.

import { type FormEvent, useState } from "react";
import { api, withQuery } from "../api.ts";
import type { ImportReport } from "../types.ts";
import { ErrorBanner, Notice, PageHead, SelectField, useAction } from "../ui.tsx";

const PRODUCTS = [
  ["pihole", "Pi-hole: a Teleporter backup (.zip, .tar.gz) or gravity.db"],
  ["adguardhome", "AdGuard Home: AdGuardHome.yaml"],
  ["blocky", "Blocky: config.yml"],
] as const;

function Report({ r }: { r: ImportReport }) {
  return (
    <section className="card" aria-label={r.dryRun ? "Preview" : "Imported"}>
      <h2>
        {r.dryRun ? "Would create" : "Created"} {r.created.length}, already there {r.skipped.length}
        , not mappable {r.notMapped.length}
      </h2>
      {r.created.length > 0 && (
        <ul aria-label={r.dryRun ? "Would create" : "Created"}>
          {r.created.map((c) => (
            <li key={c}>
              <code>{c}</code>
            </li>
          ))}
        </ul>
      )}
      {r.skipped.length > 0 && (
        <>
          <h3>Already there (left alone)</h3>
          <ul aria-label="Already there">
            {r.skipped.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
        </>
      )}
      {r.notMapped.length > 0 && (
        <>
          <h3>Not mapped</h3>
          <ul aria-label="Not mapped">
            {r.notMapped.map((n) => (
              <li key={`${n.item}|${n.reason}`}>
                <code>{n.item}</code>: {n.reason}
              </li>
            ))}
          </ul>
        </>
      )}
      {r.publishedVersion !== undefined && (
        <Notice>Published as version {r.publishedVersion}.</Notice>
      )}
      {r.dryRun && <p className="hint">Dry run: nothing was changed.</p>}
    </section>
  );
}

export function ImportPage() {
  const [product, setProduct] = useState<string>("pihole");
  const [file, setFile] = useState<File | undefined>(undefined);
  const [report, setReport] = useState<ImportReport | undefined>(undefined);
  const act = useAction();
  const send = (dryRun: boolean) =>
    act.run(async () => {
      if (!file) return;
      setReport(undefined);
      setReport(
        await api.postBytes<ImportReport>(withQuery(`/import/${product}`, { dryRun }), file),
      );
    });
  const preview = (e: FormEvent) => {
    e.preventDefault();
    void send(true);
  };
  return (
    <section>
      <PageHead title="Import" />
      <p className="hint">
        Moving from another DNS filter: its lists, subscriptions, allow and deny rules, upstreams,
        conditional forwarding, local records and client groups become Gatehouse lists, policies and
        resolver settings (see docs/migrate.md). Preview first; an import skips what an earlier one
        created.
      </p>
      <form className="card" onSubmit={preview} aria-label="Import a file">
        <SelectField
          label="From"
          value={product}
          onChange={(v) => {
            setProduct(v);
            setReport(undefined);
          }}
          options={PRODUCTS}
        />
        <div className="field">
          <label htmlFor="import-file">File</label>
          <input
            id="import-file"
            type="file"
            required
            onChange={(e) => {
              setFile(e.target.files?.[0]);
              setReport(undefined);
            }}
          />
        </div>
        <div className="buttons">
          <button type="submit" className="primary" disabled={act.busy || !file}>
            Preview (dry run)
          </button>
          <button
            type="button"
            disabled={act.busy || !file || !report?.dryRun}
            title={report?.dryRun ? undefined : "Preview first"}
            onClick={() => void send(false)}
          >
            Import
          </button>
        </div>
      </form>
      <ErrorBanner error={act.error} />
      {report && <Report r={report} />}
    </section>
  );
}
