"""Upload checks; the bootstrap CLI (user create with --password-stdin, grant, tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsloop.access.uploads import check_upload
from opsloop.cli.access import token_app, user_app
from opsloop.errors import InvalidInputError


def test_good_upload_passes() -> None:
    ok = check_upload(filename="../../x/list.CSV", content_type="text/csv", size=10, head=b"a,b")
    assert ok.name == "list.CSV" and ok.suffix == ".csv"


@pytest.mark.parametrize(
    ("kw", "where"),
    [
        ({"filename": "evil.exe"}, "filename"),
        ({"filename": ".htaccess"}, "filename"),
        ({"size": 10**10}, "size"),
        ({"content_type": "text/html"}, "content_type"),
        ({"filename": "x.parquet", "content_type": "application/octet-stream"}, "content"),
        ({"head": b"a\x00b"}, "content"),
    ],
)
def test_bad_uploads_are_refused(kw: dict[str, object], where: str) -> None:
    args: dict[str, object] = {
        "filename": "a.csv",
        "content_type": "text/csv",
        "size": 10,
        "head": b"x",
    }
    with pytest.raises(InvalidInputError) as err:
        check_upload(**(args | kw))  # type: ignore[arg-type]
    assert err.value.where == where


def test_bootstrap_admin_from_the_cli(
    home: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsloop.settings import get_settings

    monkeypatch.setenv("OPSLOOP_DATABASE_URL", store_url)
    get_settings.cache_clear()
    runner = CliRunner()
    args = ["create", "admin", "--role", "admin", "--org", "HO", "--password-stdin"]
    made = runner.invoke(user_app, args, input="Bootstrap-Pass-2026!\n")
    assert made.exit_code == 0, made.output
    weak = runner.invoke(
        user_app, ["create", "x2", "--role", "rm", "--password-stdin"], input="a\n"
    )
    assert weak.exit_code != 0
    assert runner.invoke(user_app, ["grant", "admin", "auditor"]).exit_code == 0
    listed = runner.invoke(user_app, ["list"])
    assert "admin,auditor" in listed.output
    tok = runner.invoke(token_app, ["create", "--user", "admin", "--scope", "audit:read"])
    assert tok.exit_code == 0 and "opl_" in tok.output
    assert runner.invoke(token_app, ["revoke", "1"]).exit_code == 0
