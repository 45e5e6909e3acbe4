"""A grouped bar chart as plain geometry for a server-rendered SVG (no script, no CDN)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mailer.i18n import N_
from mailer.reports.stats import MonthActivity

# (field, colour, label: a catalogue key)
SERIES = (
    ("signups", "#0b5394", N_("Påmeldinger")),
    ("confirmations", "#2e7d32", N_("Bekreftelser")),
    ("unsubscribes", "#b45309", N_("Avmeldinger")),
)
WIDTH = 720
HEIGHT = 260
LEFT = 44
RIGHT = 8
TOP = 12
BOTTOM = 36


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    series: str
    label: str
    month: str
    value: int


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Label:
    x: float
    month: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    plot_right: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Label]
    series: tuple[tuple[str, str, str], ...]


def nice_ceiling(value: int) -> int:
    """1, 2, 4 or 8 × 10ⁿ at or above ``value`` (at least 4): the axis's four steps are
    then round numbers too."""
    value = max(value, 4)
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 8, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def bar_chart(months: list[MonthActivity]) -> Chart:
    peak = max((getattr(m, name) for m in months for name, _, _ in SERIES), default=0)
    top_value = nice_ceiling(peak)
    plot_height = HEIGHT - TOP - BOTTOM
    plot_width = WIDTH - LEFT - RIGHT
    baseline = TOP + plot_height
    slot = plot_width / max(len(months), 1)
    bar_width = slot * 0.8 / len(SERIES)
    bars: list[Bar] = []
    labels: list[Label] = []
    for i, month in enumerate(months):
        start = LEFT + i * slot + slot * 0.1
        labels.append(Label(LEFT + i * slot + slot / 2, month.month))
        for j, (name, colour, label) in enumerate(SERIES):
            value = getattr(month, name)
            height = plot_height * value / top_value
            bars.append(
                Bar(
                    x=round(start + j * bar_width, 1),
                    y=round(baseline - height, 1),
                    width=round(bar_width - 1, 1),
                    height=round(height, 1),
                    colour=colour,
                    series=name,
                    label=label,
                    month=month.month,
                    value=value,
                )
            )
    ticks = [
        Tick(round(baseline - plot_height * k / 4, 1), top_value * k // 4) for k in range(0, 5)
    ]
    return Chart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, baseline, bars, ticks, labels, SERIES)
