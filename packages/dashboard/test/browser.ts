// What the dashboard's browser tests share: the dashboard built from this package's source as it
// is now (the dist `npm install` built, when current; else a build of their own), and headless
// Chromium (the system's /usr/bin/chromium, Debian's `chromium`, driven by playwright-core) that
// may reach only loopback and collects console errors, page errors and CSP violations.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type AppOptions, buildApp, DuckDbStore } from "@gatehouse/control";
import type { FastifyInstance } from "fastify";
import { type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { staleReason } from "../build-stamp.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const SKIP = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium package (.ci/run does) to run the dashboard's browser test`;
const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Each step's wait; a whole flow takes a few seconds. */
export const STEP_MS = 15_000;

/** Build the dashboard from source into `outDir`. */
export async function buildDashboard(outDir: string): Promise<void> {
  const { build } = await import("vite");
  await build({
    root: PACKAGE_DIR,
    logLevel: "warn",
    build: { outDir, emptyOutDir: true },
  });
}

/**
 * The dashboard as built from the source as it is now: packages/dashboard/dist when its
 * .sources.json matches every file the build read (`npm install` built it), else a build of
 * its own into `dir`/dist. Never a stale one.
 */
export async function dashboardDist(dir: string): Promise<string> {
  const shared = join(PACKAGE_DIR, "dist");
  const stale = staleReason(PACKAGE_DIR, shared);
  if (stale === undefined) return shared;
  console.log(
    `# building the dashboard for this test: packages/dashboard/dist is not current (${stale}); ` +
      "`npm run build -w packages/dashboard` lets the browser tests share one build",
  );
  const own = join(dir, "dist");
  await buildDashboard(own);
  return own;
}

export interface Browser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors, page errors and requests outside loopback, as they happened. */
  readonly problems: string[];
}

/** Headless Chromium with a profile in `profileDir`; only http://127.0.0.1 may be reached. */
export async function launchBrowser(
  profileDir: string,
  viewport = { width: 1280, height: 900 },
): Promise<Browser> {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport,
  });
  context.setDefaultTimeout(STEP_MS);
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  // Only loopback: the page must not try to reach anything but control.
  await context.route(/^(?!http:\/\/127\.0\.0\.1:)/, (route) => {
    problems.push(`request outside control: ${route.request().url()}`);
    return route.abort();
  });
  return { context, page, problems };
}

export interface DashboardApp extends Browser {
  /** Control, in-process with in-memory PGlite, serving the dashboard (dashboardDist). */
  readonly app: FastifyInstance;
  /** Its query log (in-memory DuckDB). */
  readonly analytics: DuckDbStore;
  /** Where control listens (http://127.0.0.1:port). */
  readonly base: string;
  /** Close the browser, control and the store; remove the profile (and a build of its own). */
  close(): Promise<void>;
}

/**
 * Control on loopback with the dashboard as built from the source (dashboardDist), an in-memory query log, and a
 * browser for it. `seed` runs before control listens.
 */
export async function startDashboardApp(
  name: string,
  options: Partial<AppOptions> = {},
  seed?: (app: FastifyInstance, analytics: DuckDbStore) => Promise<void>,
): Promise<DashboardApp> {
  const tmp = mkdtempSync(join(tmpdir(), `gh-dashboard-${name}-`));
  let app: FastifyInstance | undefined;
  let analytics: DuckDbStore | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.context.close();
    await app?.close();
    await analytics?.close();
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const dist = await dashboardDist(tmp);
    analytics = await DuckDbStore.open({ path: ":memory:", threads: 1 });
    app = await buildApp({
      logger: false,
      autoPublishDelayMs: 0,
      ...options,
      dashboardDir: dist,
      analytics,
    });
    await seed?.(app, analytics);
    const base = await app.listen({ host: "127.0.0.1", port: 0 });
    browser = await launchBrowser(join(tmp, "profile"));
    return { ...browser, app, analytics, base, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Save a full-page screenshot as `name`.png when GATEHOUSE_E2E_SCREENSHOTS names a folder. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env["GATEHOUSE_E2E_SCREENSHOTS"];
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** From the sign-in page (username and password), to the API token form. */
export async function tokenForm(page: Page): Promise<Locator> {
  await page.getByRole("button", { name: "Use an API token instead" }).click();
  return page.getByRole("form", { name: "Sign in with an API token" });
}

/** Sign in on the token form with `token`; resolves once the overview shows. */
export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/`);
  const form = await tokenForm(page);
  await form.getByLabel("API token").fill(token);
  await form.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
}
