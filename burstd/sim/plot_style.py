"""Shared look of the simulator's figures (``--plot`` and the front plot).

Colours are from the Okabe-Ito palette, which readers with the common colour-vision deficiencies can tell
apart; every series also has its own line style or fill, so the figures still read in grey scale.
"""

from __future__ import annotations

from typing import Final

#: Okabe-Ito colours
BLACK: Final = "#000000"
ORANGE: Final = "#E69F00"
SKY_BLUE: Final = "#56B4E9"
GREEN: Final = "#009E73"
YELLOW: Final = "#F0E442"
BLUE: Final = "#0072B2"
VERMILLION: Final = "#D55E00"
PURPLE: Final = "#CC79A7"
GREY: Final = "#555555"

#: one colour per run, in every figure that compares runs
RUN_COLOURS: Final = {"burstd": BLUE, "reactive": VERMILLION, "oracle": GREEN}
#: one marker per run (front plots), so runs differ in shape as well as colour
RUN_MARKERS: Final = {"burstd": "o", "reactive": "s", "oracle": "D"}

#: (colour, line style, line width) of each series of the time-series figure
DEMAND: Final = (BLACK, "-", 1.0)
READY_CAPACITY: Final = (BLUE, "--", 1.2)
BASE_CAPACITY: Final = (GREY, ":", 1.0)
CLOUD_NODES: Final = (ORANGE, "-.", 1.1)
#: unserved demand: a solid area (no edge, no hatch: either would widen a one-minute shortfall), told from
#: the served area by hue and lightness both
UNSERVED_COLOUR: Final = VERMILLION
#: served demand: a light fill under the demand line (the cloud-node line shows through it)
SERVED_COLOUR: Final = SKY_BLUE
SERVED_ALPHA: Final = 0.3
#: the band marking the zoomed window on the full-trace panels
ZOOM_BAND: Final = YELLOW

DPI: Final = 110
TITLE_SIZE: Final = 11
LABEL_SIZE: Final = 9
