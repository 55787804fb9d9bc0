"""Look at the pull-request plan comment as GitHub shows it: headless Chromium with GitHub's CSS.

For each number of changed bundles, builds the synthetic fleet the tests use (tests/planscale.py:
rotated Secrets, cluster groups and label selectors over N clusters), renders the comment with
`planreport.to_markdown`, turns it into HTML with markdown-it-py (CommonMark with GitHub's tables
and inline HTML, as GitHub renders a comment) inside GitHub's own stylesheet (the npm package
`github-markdown-css`, fetched once with `npm pack`), and screenshots it with headless Chromium.

    python examples/demo/screenshot_plan.py                       # 3, 35 and 300 changed bundles
    python examples/demo/screenshot_plan.py --changed 35 --clusters 200 --height 1000 \\
        --png examples/plan-comment-35.png                        # the README's picture

Needs Debian's `chromium` (apt-get install chromium), `npm`, and markdown-it-py (in the dev venv).
Writes the Markdown, the HTML and the PNG of each case to --out (default: a temporary folder).
A maintainer's tool, not part of `make test`.
"""

from __future__ import annotations

import argparse
import html
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the synthetic fleet of the plan comment's tests

CSS_PACKAGE = "github-markdown-css@5.9.0"
CSS_FILE = "package/github-markdown-light.css"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><style>{css}
body {{ background: #fff; margin: 0; }}
.markdown-body {{ box-sizing: border-box; max-width: {width}px; margin: 0; padding: 16px 24px; }}
</style></head>
<body><article class="markdown-body">{body}</article></body></html>
"""


def github_css(cache: Path) -> str:
    css = cache / "github-markdown-light.css"
    if not css.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["npm", "pack", CSS_PACKAGE, "--pack-destination", tmp, "--silent"], check=True,
                           capture_output=True)  # fmt: skip
            (tgz,) = Path(tmp).glob("*.tgz")
            with tarfile.open(tgz) as tar:
                member = tar.extractfile(CSS_FILE)
                assert member is not None
                css.write_bytes(member.read())
    return css.read_text(encoding="utf-8")


def to_html(markdown: str, css: str, width: int) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    return PAGE.format(css=css, width=width, body=body)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    sys.exit("no Chromium found: apt-get install -y chromium")


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png}",
             f"--window-size={width},{height}", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changed", type=int, nargs="+", default=[3, 35, 300], help="changed bundles per case")
    parser.add_argument("--clusters", type=int, default=200, help="clusters in the inventory (default 200)")
    parser.add_argument("--width", type=int, default=900, help="window width in px (default 900)")
    parser.add_argument("--height", type=int, default=1000, help="window height in px: the screen shot")
    parser.add_argument("--out", type=Path, help="folder for the .md, .html and .png files")
    parser.add_argument("--png", type=Path, help="with one --changed: write its screenshot here")
    args = parser.parse_args()

    import planscale
    from fleethandshake.core import planreport

    out = args.out or Path(tempfile.mkdtemp(prefix="fleet-handshake-comment-"))
    out.mkdir(parents=True, exist_ok=True)
    css = github_css(Path.home() / ".cache" / "fleet-handshake" / CSS_PACKAGE)
    for changed in args.changed:
        plan = planscale.plan_in_memory(planscale.fleet(changed, args.clusters))
        markdown = planreport.to_markdown(plan)
        stem = out / f"plan-comment-{changed}"
        stem.with_suffix(".md").write_text(markdown, encoding="utf-8")
        page = stem.with_suffix(".html")
        page.write_text(to_html(markdown, css, args.width), encoding="utf-8")
        png = args.png if args.png and len(args.changed) == 1 else stem.with_suffix(".png")
        screenshot(page, png, args.width, args.height)
        print(f"{changed} changed bundles, {args.clusters} clusters: {len(markdown)} characters -> {png}")
    print(f"(HTML and Markdown in {html.escape(str(out))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
