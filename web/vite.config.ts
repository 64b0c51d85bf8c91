/// <reference types="vitest" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The app is served from the platform's origin at "/": hashed assets under /assets/.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    // Chakra, emotion and React in one shared chunk; each page its own lazy chunk.
    rollupOptions: {
      output: {
        manualChunks: {
          react: ["react", "react-dom", "react-router-dom"],
        },
      },
    },
  },
  server: {
    // `npm run dev` against `make dev` on :8080 (same origin for the API through the proxy).
    proxy: { "/api": "http://127.0.0.1:8080", "/.well-known": "http://127.0.0.1:8080" },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    testTimeout: 30_000,
  },
});
