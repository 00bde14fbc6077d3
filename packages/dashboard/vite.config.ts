// Builds the dashboard into dist/ (served by control at `/`). No inline scripts, so the page
// runs under control's `script-src 'self'` Content-Security-Policy. dist/.sources.json records
// what the build was made from (build-stamp.ts), so tests can tell a current dist from a stale one.

import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";
import { sourceStamp } from "./build-stamp.ts";

export default defineConfig({
  plugins: [react(), sourceStamp()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Every browser that runs the app has module preload; the polyfill would be dead code.
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
  server: {
    host: "127.0.0.1",
    // `npm run dev -w packages/dashboard` against a control on its default port.
    proxy: { "/api": "http://127.0.0.1:8787" },
  },
});
