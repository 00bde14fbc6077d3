// The shipped Prometheus rules and Grafana dashboard must only use metrics the code exports,
// and the alert rules must pass their own unit tests (promtool).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { ControlMetrics } from "@gatehouse/control";
import { registerEdgeMetrics } from "@gatehouse/edge";

const root = resolve(import.meta.dirname, "../../..");
const deploy = join(root, "deploy");

/**
 * Metric names the code really registers: every edge metric (registerEdgeMetrics) and control's
 * (ControlMetrics), each with its default process metrics. Names are read from the registries,
 * not scraped (a scrape of control's would query its database).
 */
function exportedMetrics(): Set<string> {
  const control = new ControlMetrics({
    db: undefined as never,
    heartbeatIntervalMs: 1000,
    waitingLongPolls: () => 0,
  });
  const names = new Set<string>();
  for (const registry of [registerEdgeMetrics(), control.registry])
    for (const m of registry.getMetricsAsArray()) names.add(m.name);
  return names;
}

function usedMetrics(text: string): Set<string> {
  const used = new Set<string>();
  for (const m of text.matchAll(/\b(gatehouse_[a-z0-9_]+)/g))
    used.add(m[1]!.replace(/_(bucket|sum|count)$/, ""));
  return used;
}

describe("deploy/", () => {
  test("every metric in the alert rules and the Grafana dashboard is exported by the code", () => {
    const exported = exportedMetrics();
    for (const file of ["prometheus/alerts.yml", "grafana/gatehouse.json"]) {
      const used = usedMetrics(readFileSync(join(deploy, file), "utf8"));
      assert.ok(used.size > 5, `${file} uses metrics`);
      const unknown = [...used].filter((n) => !exported.has(n));
      assert.deepEqual(unknown, [], `${file} uses metrics the code does not export`);
    }
  });

  test("the dashboard charts bundle publish duration and publish-to-apply latency", () => {
    const used = usedMetrics(readFileSync(join(deploy, "grafana/gatehouse.json"), "utf8"));
    const exported = exportedMetrics();
    for (const name of [
      "gatehouse_control_bundle_publish_duration_seconds",
      "gatehouse_control_bundle_apply_latency_seconds",
    ]) {
      assert.ok(exported.has(name), `${name} is exported`);
      assert.ok(used.has(name), `${name} is on the dashboard`);
    }
  });

  test("the Grafana dashboard is valid JSON with Prometheus targets", () => {
    const d = JSON.parse(readFileSync(join(deploy, "grafana/gatehouse.json"), "utf8")) as {
      panels: { targets: { expr: string }[] }[];
    };
    assert.ok(d.panels.length >= 10);
    for (const p of d.panels)
      assert.ok(p.targets.length > 0 && p.targets.every((t) => t.expr.length > 0));
  });

  const promtool = spawnSync("promtool", ["--version"]).status === 0;
  test("alert rules pass promtool's unit tests", {
    skip: promtool
      ? false
      : "promtool not installed (Debian package prometheus; .ci/run installs it)",
  }, () => {
    const r = spawnSync("promtool", ["test", "rules", "alerts.test.yml"], {
      cwd: join(deploy, "prometheus"),
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
