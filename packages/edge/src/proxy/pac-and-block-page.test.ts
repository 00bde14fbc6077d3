import assert from "node:assert/strict";
import { test } from "node:test";
import { runInNewContext } from "node:vm";
import { acceptsHtml, renderBlockHtml, renderBlockText, resolveTheme } from "./block-page.ts";
import { isSafeAuthority, renderPac } from "./pac.ts";

test("PAC sends bypass domains and their subdomains DIRECT, the rest to the proxy", () => {
  const pac = renderPac(["Intranet.Example", "printer.local."], "proxy.example:3128");
  const sandbox = {
    isPlainHostName: (h: string) => !h.includes("."),
    result: "",
  };
  const run = (host: string) =>
    runInNewContext(
      `${pac}; FindProxyForURL("http://" + ${JSON.stringify(host)} + "/", ${JSON.stringify(host)})`,
      { ...sandbox },
    );
  assert.equal(run("intranet.example"), "DIRECT");
  assert.equal(run("a.b.INTRANET.example"), "DIRECT");
  assert.equal(run("printer.local"), "DIRECT");
  assert.equal(run("nas"), "DIRECT");
  assert.equal(run("example.com"), "PROXY proxy.example:3128");
  assert.equal(run("notintranet.example"), "PROXY proxy.example:3128");
  assert.ok(isSafeAuthority("[::1]:3128") && isSafeAuthority("proxy:8080"));
  assert.ok(!isSafeAuthority('x";alert(1);"') && !isSafeAuthority("a b"));
});

test("block page: escaped, themed, text for non-browsers", () => {
  const theme = resolveTheme(
    { title: "Bundle <T>", color: "00ff00" },
    { message: "Loc & msg", logoUrl: "javascript:alert(1)" },
  );
  const input = {
    status: 403,
    policyName: "No <script>",
    reason: "gambling",
    requestId: "r-1",
    time: new Date(0),
    url: "http://x.example/?a=<b>",
  };
  const html = renderBlockHtml(theme, input);
  assert.ok(html.includes("Bundle &lt;T&gt;"));
  assert.ok(html.includes("Loc &amp; msg"));
  assert.ok(html.includes("No &lt;script&gt;"));
  assert.ok(html.includes("#00ff00"));
  assert.ok(html.includes("r-1") && html.includes("1970-01-01T00:00:00.000Z"));
  assert.ok(!html.includes("javascript:"));
  assert.ok(!html.includes("<b>"));
  const text = renderBlockText(input);
  assert.match(text, /Policy: No <script>\n/);
  assert.match(text, /Request ID: r-1\n/);
  assert.ok(acceptsHtml("text/html,application/xhtml+xml,*/*;q=0.8"));
  assert.ok(!acceptsHtml("*/*"));
  assert.ok(!acceptsHtml("text/html;q=0"));
  assert.ok(!acceptsHtml(undefined));
});
