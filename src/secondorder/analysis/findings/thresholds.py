"""The thresholds that the rules of the findings state (ours, not the paper's), in one place:
the rules quote them and the report lists them."""

from __future__ import annotations

# A loss (or loss ratio) differs only beyond this relative margin.
LOSS_MARGIN = 0.05
# Curves are compared at this many evenly spaced epochs of their common range.
GRID_POINTS = 20
# "Lower along the curve": lower by the margin at this share of the grid points (at least).
MOST_OF_CURVE = 0.75
# One time to target is shorter than another only beyond this relative margin.
TIME_MARGIN = 0.10
# A reproduced Table 1 entry holds within this many percentage points of the paper's. CIFAR-10
# is wider: our copy is decoded from JPEG (lossy pixels, see DESIGN.md).
TABLE1_TOLERANCE_PP = {"mnist": 0.5, "cifar10": 2.0}
