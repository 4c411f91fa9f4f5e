"""Self-contained static ``report.html``: the leaderboard data inlined with the page's CSS and JS.

The page needs no server and no network: the template, stylesheet and script ship in
``salmubench/leaderboard/assets`` and are inlined; plots are inline SVG drawn by the script.
"""

from __future__ import annotations

import json
from importlib import resources


def _asset(name: str) -> str:
    return resources.files("salmubench.leaderboard").joinpath("assets", name).read_text(encoding="utf-8")


def embed_json(obj) -> str:
    """JSON safe inside a ``<script>`` element (no ``</``, ASCII only)."""
    return json.dumps(obj, ensure_ascii=True, allow_nan=False).replace("</", "<\\/")


def to_html(lb: dict) -> str:
    """The report page for leaderboard data ``lb`` (see build.build_leaderboard)."""
    page = _asset("report.html")
    for marker, text in (("/*__CSS__*/", _asset("report.css")), ("/*__JS__*/", _asset("report.js")),
                         ("/*__DATA__*/", embed_json(lb))):
        head, sep, tail = page.partition(marker)
        if not sep:
            raise RuntimeError(f"report template lacks {marker}")
        page = head + text + tail  # partition, not str.replace: the inlined text may contain markers
    return page
