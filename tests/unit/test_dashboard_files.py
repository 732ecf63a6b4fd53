"""The status page's files: what web/dist serves, its colours' contrast, how it is built and shipped."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from shared.api.dashboard import SECURITY_HEADERS, asset, respond, shell

ROOT = Path(__file__).resolve().parents[2]
STYLE = (ROOT / "web" / "src" / "style.css").read_text(encoding="utf-8")


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>page</title>")
    (tmp_path / "assets" / "dashboard.js").write_text("console.log(1)")
    (tmp_path / "assets" / "notes.txt").write_text("not an asset type")
    (tmp_path / "secret.js").write_text("outside assets")
    return tmp_path


def test_the_shell_is_the_built_index_page_served_as_html(dist: Path) -> None:
    found = shell(dist)
    assert found is not None
    assert found.content_type == "text/html; charset=utf-8"
    assert found.body.startswith(b"<!doctype html>")


def test_a_page_that_was_never_built_has_no_shell(tmp_path: Path) -> None:
    assert shell(tmp_path) is None
    assert asset("dashboard.js", tmp_path) is None


def test_assets_are_plain_file_names_of_known_types_inside_the_assets_folder(dist: Path) -> None:
    found = asset("dashboard.js", dist)
    assert found is not None
    assert found.content_type == "text/javascript; charset=utf-8"
    for name in ("../secret.js", "..%2Fsecret.js", "../index.html", "notes.txt", "missing.js", ""):
        assert asset(name, dist) is None, name


def test_the_page_is_answered_with_headers_that_keep_it_to_its_own_origin(dist: Path) -> None:
    answer = respond("/api/dashboard", None, dist)
    assert answer.status == 200
    assert answer.body.startswith(b"<!doctype html>")
    headers = answer.all_headers()
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers.items() >= SECURITY_HEADERS.items()


def test_assets_are_answered_under_assets_and_anything_else_is_not_found(dist: Path) -> None:
    found = respond("/api/dashboard/assets/dashboard.js", "assets/dashboard.js", dist)
    assert found.body == b"console.log(1)"
    for rest in ("index.html", "assets/../secret.js", "secret.js", "assets/notes.txt", "other/dashboard.js"):
        answer = respond(f"/api/dashboard/{rest}", rest, dist)
        assert answer.status == 404, rest
        assert answer.all_headers()["Content-Type"] == "application/json"


def test_a_trailing_slash_is_redirected_so_the_relative_links_resolve(dist: Path) -> None:
    answer = respond("/api/dashboard/", "", dist)
    assert (answer.status, answer.headers) == (308, {"Location": "../dashboard"})


def test_an_unbuilt_page_says_how_to_build_it(tmp_path: Path) -> None:
    answer = respond("/api/dashboard", None, tmp_path)
    assert answer.status == 503
    assert b"npm run build" in answer.body


def _hex(colour: str) -> tuple[float, float, float]:
    value = colour.lstrip("#")
    return (int(value[0:2], 16) / 255, int(value[2:4], 16) / 255, int(value[4:6], 16) / 255)


def _luminance(colour: str) -> float:
    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in _hex(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_is_computed_as_wcag_defines_it() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def test_every_colour_pair_of_the_page_meets_wcag_aa_for_normal_text() -> None:
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})\s*;", STYLE))
    pairs = [(name, f"{name[:-3]}-bg") for name in colours if name.endswith("-fg")]
    pairs += [("text", "page"), ("muted", "page"), ("link", "page"), ("muted", "panel"), ("text", "panel")]
    assert len(pairs) >= 12
    failing = {f"{fg} on {bg}": round(contrast(colours[fg], colours[bg]), 2) for fg, bg in pairs}
    assert {pair: ratio for pair, ratio in failing.items() if ratio < 4.5} == {}


def test_the_build_output_is_ignored_by_git_but_shipped_by_azd() -> None:
    assert "web/dist/" in (ROOT / ".gitignore").read_text().splitlines()
    shipped_out = (ROOT / ".funcignore").read_text().splitlines()
    assert "web/src" in shipped_out
    assert not {"web", "web/", "web/dist", "web/dist/", "web/*"} & set(shipped_out)
    hook = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]["prepackage"]
    assert hook["posix"]["run"].endswith("npm run build")
    assert "npm run build" in hook["windows"]["run"]


def test_nothing_is_loaded_from_another_origin() -> None:
    for path in (ROOT / "web" / "src").iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path.name
        assert "cdn" not in text.lower(), path.name


def test_the_chart_library_comes_from_npm_and_no_copy_of_it_is_in_the_repository() -> None:
    pinned = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))["devDependencies"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned["uplot"])  # an exact version, locked in package-lock.json
    charts = (ROOT / "web" / "src" / "charts.js").read_text(encoding="utf-8")
    assert 'import uPlot from "uplot";' in charts  # bundled by esbuild from node_modules (web/build.mjs)
    outside = {".git", ".venv", "node_modules", "dist", ".data", ".azurite", "__pycache__"}
    copies = []
    for _folder, folders, files in os.walk(ROOT):
        folders[:] = [name for name in folders if name not in outside and not name.startswith(".venv")]
        copies += [name for name in files if "uplot" in name.lower() or name.endswith(".min.js")]
    assert copies == []
