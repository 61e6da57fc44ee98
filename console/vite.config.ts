/// <reference types="vitest" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes inside the Python package so the wheel ships it and `opsloop serve`
// serves it with no Node.js on the user's machine. No CDN: everything is bundled.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../src/opsloop/api/console_dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      output: {
        // Vendor chunks that change rarely (cached a year) — React, ECharts and React
        // Flow — but Ant Design is left to Rollup: the components the shell and the
        // home page use travel with them, the rest (Table, Form, Tree, …) load with the
        // lazy page that first needs them, so the first load parses only what it draws.
        manualChunks(id: string) {
          if (!id.includes("node_modules")) return undefined;
          if (/node_modules\/(react|react-dom|react-router|react-router-dom|scheduler)\//.test(id)) return "react";
          // ECharts' core, zrender and the line/bar charts the home page draws; Sankey,
          // funnel and pie travel with the pages that import components/charts-extra.
          if (/node_modules\/(zrender|echarts-for-react)\//.test(id)) return "echarts";
          // (charts.js re-exports every chart: in this chunk it would pull them all in)
          if (/node_modules\/echarts\//.test(id) && !/\/(chart\/(sankey|funnel|pie)\/|export\/charts\.js|echarts\/charts\.js)/.test(id)) return "echarts";
          if (/node_modules\/(@xyflow|d3-[a-z]+)\//.test(id)) return "xyflow";
          return undefined;
        },
      },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
  test: { environment: "jsdom", include: ["src/**/*.test.{ts,tsx}"] },
});
