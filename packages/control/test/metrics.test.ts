// Control's Prometheus metrics: API request counters by route template, fleet gauges from the
// database (edges by state, per-edge config version and apply latency, latest version per
// account), histograms of publish duration and publish-to-apply latency; /metrics needs a system
// admin on the API listener, none on the metrics listener.

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startControl } from "../src/start.ts";

describe("control metrics", () => {
  let control: Awaited<ReturnType<typeof startControl>>;
  let auth: Record<string, string>;

  before(async () => {
    control = await startControl({
      listen: "127.0.0.1:0",
      metricsListen: "127.0.0.1:0",
      logger: false,
      autoPublishDelayMs: 0,
    });
    auth = { authorization: `Bearer ${control.adminToken}`, "content-type": "application/json" };
  });
  after(async () => {
    await control?.close();
  });

  const api = async (method: string, path: string, body?: unknown, headers = auth) => {
    const r = await fetch(`${control.address}/api/v1${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  it("needs a system admin on the API listener", async () => {
    assert.equal((await fetch(`${control.address}/metrics`)).status, 401);
    const r = await fetch(`${control.address}/metrics`, { headers: auth });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /text\/plain/);
  });

  it("reports requests by route template and the fleet from the database", async () => {
    await api("POST", "/locations", { name: "lo", networks: ["127.0.0.0/8"] });
    const published = await api("POST", "/config/publish", {});
    const version = published.body["version"] as number;
    const join = await api("POST", "/edges/join-tokens", {});
    const enrolled = await api(
      "POST",
      "/edge/enroll",
      { joinToken: join.body["joinToken"], name: "edge-a" },
      {
        "content-type": "application/json",
      },
    );
    const edgeAuth = {
      authorization: `Bearer ${enrolled.body["credential"]}`,
      "content-type": "application/json",
    };
    await api(
      "POST",
      "/edge/heartbeat",
      { version: "t", configVersion: version, uptimeSeconds: 1 },
      edgeAuth,
    );
    assert.equal(
      (await api("POST", "/edge/config-status", { version, ok: true }, edgeAuth)).status,
      204,
    );

    const text = await (await fetch(`http://${control.metricsAddress}/metrics`)).text();
    assert.match(
      text,
      /^gatehouse_control_http_requests_total\{method="POST",route="\/api\/v1\/locations",status_class="2xx"\} 1$/m,
    );
    assert.match(text, /^gatehouse_control_edges\{state="active"\} 1$/m);
    assert.match(text, /^gatehouse_control_edges\{state="stale"\} 0$/m);
    assert.match(
      text,
      new RegExp(
        `^gatehouse_control_edge_config_version\\{edge_id="${enrolled.body["edgeId"]}"\\} ${version}$`,
        "m",
      ),
    );
    assert.match(text, /^gatehouse_control_edge_apply_latency_seconds\{edge_id="[^"]+"\} \d/m);
    assert.match(
      text,
      new RegExp(`^gatehouse_control_config_version\\{account_id="[^"]+"\\} ${version}$`, "m"),
    );
    assert.match(text, /^gatehouse_control_long_polls_waiting 0$/m);
    assert.match(text, /^gatehouse_control_process_resident_memory_bytes \d+/m);
    // Labels are bounded: no raw URLs with ids or query strings.
    assert.doesNotMatch(text, /route="[^"]*\?/);

    // Publish duration by result, and publish-to-apply latency once per edge and version: the
    // edge reporting the same version again (as after a restart) is not a second apply.
    assert.match(
      text,
      /^gatehouse_control_bundle_publish_duration_seconds_count\{result="published"\} 1$/m,
    );
    assert.match(text, /^gatehouse_control_bundle_apply_latency_seconds_count 1$/m);
    assert.match(text, /^gatehouse_control_bundle_apply_latency_seconds_bucket\{le="\+Inf"\} 1$/m);
    assert.equal((await api("POST", "/config/publish", {})).status, 200);
    assert.equal(
      (await api("POST", "/edge/config-status", { version, ok: true }, edgeAuth)).status,
      204,
    );
    const again = await (await fetch(`http://${control.metricsAddress}/metrics`)).text();
    assert.match(
      again,
      /^gatehouse_control_bundle_publish_duration_seconds_count\{result="unchanged"\} 1$/m,
    );
    assert.match(again, /^gatehouse_control_bundle_apply_latency_seconds_count 1$/m);
  });

  it("the metrics listener serves only /metrics", async () => {
    assert.equal((await fetch(`http://${control.metricsAddress}/api/v1/policies`)).status, 404);
  });
});
