"""The committed console build matches console/ sources, and the server serves it right.

The build writes ``source-manifest.json`` (sha256 of every source file and the lock
file); recomputing it here catches a source change committed without `npm run build`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsloop.api.app import create_app
from opsloop.api.console import DIST, is_console_path, resolve
from opsloop.settings import Settings

CONSOLE = Path(__file__).resolve().parents[2] / "console"
TOP = ["index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts"]
DIRS = ["src", "scripts", "public"]


def source_hashes() -> dict[str, str]:
    files = [CONSOLE / f for f in TOP]
    files += [p for d in DIRS for p in (CONSOLE / d).rglob("*") if p.is_file()]
    out = {}
    for p in files:
        rel = p.relative_to(CONSOLE).as_posix()
        if rel.endswith((".test.ts", ".test.tsx")):
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def test_committed_build_matches_console_sources() -> None:
    manifest = json.loads((DIST / "source-manifest.json").read_text())["files"]
    now = source_hashes()
    stale = sorted(k for k in now.keys() | manifest.keys() if now.get(k) != manifest.get(k))
    assert not stale, f"console build is stale for {stale}: run `cd console && npm run build`"


def test_index_references_only_files_that_exist() -> None:
    html = (DIST / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
    assert refs, "index.html loads no assets"
    for ref in refs:
        assert (DIST / ref.lstrip("/")).is_file(), ref
    assert "http://" not in html and "https://" not in html  # no CDN


@pytest.mark.parametrize(
    ("path", "console"),
    [
        ("/", True),
        ("/segments", True),
        ("/customers/42", True),
        ("/assets/x.js", True),
        ("/api/v1/health", False),
        ("/api", False),
        ("/v1/track", False),
        ("/sa", False),
        ("/r/abc", False),
        ("/docs", False),
        ("/openapi.json", False),
        ("/metrics", False),
    ],
)
def test_console_never_shadows_the_api(path: str, console: bool) -> None:
    assert is_console_path(path) is console


def test_resolve_keeps_to_the_build_directory(tmp_path: Path) -> None:
    assert resolve(tmp_path, "/") is None  # no build: nothing served
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>")
    (tmp_path / "assets" / "a.js").write_text("x")
    (tmp_path.parent / "secret.txt").write_text("s")
    assert resolve(tmp_path, "/assets/a.js") == ((tmp_path / "assets" / "a.js").resolve(), True)
    assert resolve(tmp_path, "/journeys") == (tmp_path / "index.html", False)
    assert resolve(tmp_path, "/../secret.txt") == (tmp_path / "index.html", False)
    assert resolve(tmp_path, "/assets/../../secret.txt") == (tmp_path / "index.html", False)


def test_served_by_the_app_with_cache_and_security_headers() -> None:
    app = create_app(Settings(home=Path("/nonexistent-opsloop-home"), redis_url=None))
    client = TestClient(app)  # no lifespan: the console needs no store
    index = client.get("/journeys")
    assert index.status_code == 200 and index.headers["cache-control"] == "no-cache"
    assert '<div id="root">' in index.text
    assert "script-src 'self'" in index.headers["content-security-policy"]
    asset = re.search(r'src="(/assets/[^"]+\.js)"', index.text)
    assert asset is not None
    js = client.get(asset.group(1))
    assert js.status_code == 200 and "immutable" in js.headers["cache-control"]
    assert js.headers["content-type"].startswith("text/javascript")
    assert client.head("/").status_code == 200
    missing = client.get("/api/v1/no-such-route")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    assert client.post("/segments").status_code in (404, 405)  # writes never hit the SPA
