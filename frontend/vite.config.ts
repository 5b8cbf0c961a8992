import { resolve } from "node:path";
import { defineConfig } from "vite";

// The build goes into the Python package (served by the coordinator, shipped in the wheel) and
// is never committed. Two pages: the app (index.html, every deep link falls back to it) and the
// API reference (docs.html, Swagger UI from the npm package, no CDN).
export default defineConfig({
  root: ".",
  base: "/",
  build: {
    outDir: resolve(import.meta.dirname, "../docklord/web/_ui"),
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: {
        index: resolve(import.meta.dirname, "index.html"),
        docs: resolve(import.meta.dirname, "docs.html"),
        "oauth2-redirect": resolve(import.meta.dirname, "oauth2-redirect.html"),
      },
    },
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:3000", ws: true },
      "/openapi.json": "http://127.0.0.1:3000",
    },
  },
});
