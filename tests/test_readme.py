"""The README's library example runs exactly as written, and it trains."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_shg_example_runs_and_lowers_the_loss(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 1, "the README should hold exactly one Python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    objective, x, y = namespace["objective"], namespace["x"], namespace["y"]
    assert "loss" in capsys.readouterr().out
    # it trained: from about chance level (ln 10 = 2.3) to well below it on all the data
    assert objective.loss((x, y)).item() < 1.0
    assert objective.counters.curvature_products > 0
