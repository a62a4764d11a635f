"""The report as one self-contained HTML page: the Markdown that
:mod:`~secondorder.analysis.report` writes, turned into HTML by the standard library, figures
inline as base64 PNG, so the page can be mailed or archived alone.

Only the Markdown subset that the report uses is understood: headings, paragraphs, bullet lists
(nested by two spaces), pipe tables, images on a line of their own, and inline links,
``**bold**``, ``*emphasis*`` and ``code``. Headings get the ids that GitHub gives them
(:func:`slug`), so in-page links work in both renderings. A bold word that the caller names a
badge (a verdict: "**holds**") becomes a coloured badge (:data:`BADGE_STYLE`).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from pathlib import Path

from secondorder import atomic

_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")
_INLINE = (
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^*]+?)(?<=\S)\*(?![\w*])"), r"<em>\1</em>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r'<a href="\2">\1</a>'),
)
_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 62rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; }
h1, h2, h3, h4 { line-height: 1.25; } h2 { border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } code { background: #f3f3f3; padding: 0 0.2rem; }
figure { margin: 1rem 0; } img { max-width: 100%; } figcaption { font-size: 13px; color: #555; }
"""
# Badge classes and their colours: green holds, red fails, grey unclear, light absent (not in the
# study, no rule).
BADGE_STYLE = """
.badge { display: inline-block; padding: 0 0.45rem; border-radius: 0.7rem; white-space: nowrap; }
.badge.holds { background: #1a7f37; color: #fff; }
.badge.fails { background: #cf222e; color: #fff; }
.badge.unclear { background: #6e7781; color: #fff; }
.badge.absent { background: #eaeef2; color: #57606a; border: 1px solid #d0d7de; }
"""


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _inline(text: str) -> str:
    # Code spans first, so their content is not formatted further.
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        escaped = html.escape(part, quote=False)
        for pattern, replacement in _INLINE[1:]:
            escaped = pattern.sub(replacement, escaped)
        out.append(escaped)
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    header, body = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _list(lines: list[str]) -> str:
    """Bullet lines ("- x", nested by two spaces) -> nested <ul>."""
    out, depth = [], -1
    for line in lines:
        level = (len(line) - len(line.lstrip(" "))) // 2
        item = _inline(line.strip()[2:])
        if level > depth:
            out.append("<ul>" * (level - depth))
        else:
            out.append("</li>" + "</ul></li>" * (depth - level))
        out.append(f"<li>{item}")
        depth = level
    out.append("</li>" + "</ul></li>" * depth + "</ul>")
    return "".join(out)


def _image(alt: str, src: str, base: Path) -> str:
    path = base / src
    if not path.is_file():
        return f'<p class="missing">Figure not found: <a href="{html.escape(src)}">{src}</a></p>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = "image/png" if path.suffix == ".png" else "image/svg+xml"
    return (
        f'<figure><img alt="{html.escape(alt)}" src="data:{mime};base64,{data}">'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
    )


def _badges(body: str, badges: Mapping[str, str]) -> str:
    """Each ``<strong>word</strong>`` of a badge word inside a badge of its class."""
    for word, css in badges.items():
        strong = f"<strong>{html.escape(word, quote=False)}</strong>"
        body = body.replace(strong, f'<span class="badge {css}">{strong}</span>')
    return body


def markdown_to_html(
    markdown: str, base: Path, title: str, badges: Mapping[str, str] | None = None
) -> str:
    """The page for `markdown`; images are read relative to `base` and inlined. `badges`: bold
    words to show as badges, word -> class of :data:`BADGE_STYLE` (holds, fails, unclear,
    absent)."""
    body: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
        elif heading := re.match(r"^(#{1,4}) (.*)$", line):
            level, text = len(heading.group(1)), heading.group(2)
            body.append(f'<h{level} id="{slug(text)}">{_inline(text)}</h{level}>')
            i += 1
        elif image := _IMAGE.match(stripped):
            body.append(_image(image["alt"], image["src"], base))
            i += 1
        else:
            kind = "table" if stripped.startswith("|") else "list" if stripped[:2] == "- " else "p"
            block = []
            while i < len(lines) and lines[i].strip():
                current = lines[i].strip()
                if kind == "table" and not current.startswith("|"):
                    break
                if kind == "list" and not current.startswith("- "):
                    break
                if kind == "p" and (current.startswith(("|", "#", "- ")) or _IMAGE.match(current)):
                    break
                block.append(lines[i])
                i += 1
            if kind == "table":
                body.append(_table(block))
            elif kind == "list":
                body.append(_list(block))
            else:
                body.append(f"<p>{_inline(' '.join(b.strip() for b in block))}</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}{BADGE_STYLE}</style>\n</head>\n"
        "<body>\n" + _badges("\n".join(body), badges or {}) + "\n</body>\n</html>\n"
    )


def write_html(
    markdown: str,
    out_html: Path,
    *,
    title: str = "Reproduction report",
    badges: Mapping[str, str] | None = None,
) -> None:
    """Write the page of `markdown` (whose links are relative to `out_html`'s folder; `badges`
    as :func:`markdown_to_html`)."""
    out_html = Path(out_html)
    atomic.write_text(out_html, markdown_to_html(markdown, out_html.parent, title, badges))
