"""Writing a small table as Markdown and as LaTeX (booktabs), the same cells in both, so every
table artifact (Table 1, Table 2, ...) looks the same."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from secondorder import atomic

_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "±": r"$\pm$",
    "≥": r"$\geq$",
}


def latex_escape(text: str) -> str:
    """Text with LaTeX's special characters escaped (and ± as math)."""
    return "".join(_LATEX.get(ch, ch) for ch in text)


def write_markdown_and_latex(
    out_md: Path,
    out_tex: Path,
    *,
    caption: str,
    header: Sequence[str],
    body: Sequence[Sequence[str]],
    notes: Sequence[str] = (),
) -> None:
    """Markdown: bold caption, the table (first column left-aligned), notes as a list.
    LaTeX: a booktabs table with the caption and the notes in its caption."""
    md = [f"**{caption}**", ""] if caption else []
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "|".join([":---", *[" ---: "] * (len(header) - 1)]) + "|")
    md += ["| " + " | ".join(line) + " |" for line in body]
    if notes:
        md += ["", *[f"- {note}" for note in notes]]
    atomic.write_text(Path(out_md), "\n".join(md) + "\n")

    tex = [
        r"\begin{table}[t]",
        r"\centering",
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in header) + r" \\",
        r"\midrule",
        *[" & ".join(latex_escape(c) for c in line) + r" \\" for line in body],
        r"\bottomrule",
        r"\end{tabular}",
        r"\caption{"
        + latex_escape(caption)
        + ". "
        + " ".join(latex_escape(n) for n in notes)
        + "}",
        r"\end{table}",
    ]
    atomic.write_text(Path(out_tex), "\n".join(tex) + "\n")
