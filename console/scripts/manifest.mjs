// Writes source-manifest.json next to the build: the sha256 of every console source file
// and package-lock.json, so a Python test can tell when the committed build is stale.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "..", "src", "opsloop", "api", "console_dist", "source-manifest.json");
const TOP = ["index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts"];
const DIRS = ["src", "scripts", "public"];

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const files = [...TOP.map((f) => join(root, f)), ...DIRS.flatMap((d) => walk(join(root, d)))];
const entries = files
  .map((p) => [relative(root, p).split(sep).join("/"), p])
  .filter(([rel]) => !rel.endsWith(".test.ts") && !rel.endsWith(".test.tsx"))
  .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  .map(([rel, p]) => [rel, createHash("sha256").update(readFileSync(p)).digest("hex")]);
writeFileSync(out, JSON.stringify({ files: Object.fromEntries(entries) }, null, 1) + "\n");
console.log(`source-manifest.json: ${entries.length} files`);
