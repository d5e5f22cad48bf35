"""Server-side SVG charts: pure functions from numbers to markup (no JavaScript, no CSS inline).

Every chart returns a ``Markup`` string ready for Jinja; numbers and labels are escaped.
Colours come from CSS classes (``dashboard.css``) so the page's palette stays in one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from markupsafe import Markup, escape

WARN_PERCENT = 80.0
FULL_PERCENT = 100.0


def level(percent: float | None, exhausted: bool = False) -> str:
    """``ok`` / ``warn`` (≥ 80 %) / ``full`` (≥ 100 % or LINE said exhausted) / ``none`` (unlimited)."""
    if exhausted or (percent is not None and percent >= FULL_PERCENT):
        return "full"
    if percent is None:
        return "none"
    return "warn" if percent >= WARN_PERCENT else "ok"


def _fmt(value: float) -> str:
    """Coordinates with at most two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _num(value: int | float) -> str:
    return f"{int(round(value)):,}"


def _tick(value: float) -> str:
    """Axis labels: whole numbers with separators, one decimal only when the step needs it."""
    return _num(value) if float(value).is_integer() else f"{value:,.1f}"


def _arc_point(cx: float, cy: float, r: float, fraction: float) -> tuple[float, float]:
    """A point on the upper half circle: fraction 0 = left end, 1 = right end."""
    angle = math.pi * (1.0 - fraction)
    return cx + r * math.cos(angle), cy - r * math.sin(angle)


def quota_gauge(used: int, limit: int | None, *, exhausted: bool = False, title: str = "quota") -> Markup:
    """A half-circle gauge of ``used`` against ``limit`` with the percentage in the middle."""
    width, height, cx, cy, r = 220, 132, 110.0, 112.0, 90.0
    percent = None if not limit else used * 100.0 / limit
    state = level(percent, exhausted)
    fraction = 1.0 if exhausted and percent is None else min(max((percent or 0.0) / 100.0, 0.0), 1.0)
    x0, y0 = _arc_point(cx, cy, r, 0.0)
    x1, y1 = _arc_point(cx, cy, r, 1.0)
    track = f"M{_fmt(x0)} {_fmt(y0)} A{_fmt(r)} {_fmt(r)} 0 0 1 {_fmt(x1)} {_fmt(y1)}"
    parts = [
        f'<svg class="gauge gauge-{state}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<path class="gauge-track" d="{track}" fill="none" stroke-width="18" stroke-linecap="round"/>',
    ]
    if fraction > 0:
        xe, ye = _arc_point(cx, cy, r, fraction)
        value = f"M{_fmt(x0)} {_fmt(y0)} A{_fmt(r)} {_fmt(r)} 0 0 1 {_fmt(xe)} {_fmt(ye)}"
        parts.append(f'<path class="gauge-value" d="{value}" fill="none" stroke-width="18" stroke-linecap="round"/>')
    # the 80 % mark, where the first alert fires
    mx0, my0 = _arc_point(cx, cy, r - 13, WARN_PERCENT / 100)
    mx1, my1 = _arc_point(cx, cy, r + 13, WARN_PERCENT / 100)
    parts.append(f'<line class="gauge-mark" x1="{_fmt(mx0)}" y1="{_fmt(my0)}" x2="{_fmt(mx1)}" y2="{_fmt(my1)}"/>')
    big = "∞" if percent is None and not exhausted else ("100%" if percent is None else f"{percent:.1f}%")
    small = f"{_num(used)} / {_num(limit)}" if limit else f"{_num(used)} / " + _("unlimited")
    parts.append(f'<text class="gauge-percent" x="{_fmt(cx)}" y="{_fmt(cy - 22)}" text-anchor="middle">{big}</text>')
    parts.append(f'<text class="gauge-caption" x="{_fmt(cx)}" y="{_fmt(cy + 2)}" text-anchor="middle">'
                 f"{escape(small)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class DayBar:
    """One day of the month: how many messages went out that day."""

    day: int
    sent: int


def _nice_ceiling(value: float) -> float:
    """The next 1/2/5 × 10ⁿ at or above ``value`` (axis maximum)."""
    if value <= 0:
        return 10.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return float(candidate)
    return float(10 ** (exponent + 1))


def month_chart(
    bars: Sequence[DayBar],
    days_in_month: int,
    *,
    limit: int | None = None,
    forecast: Sequence[tuple[int, int]] = (),
    month_label: str = "",
) -> Markup:
    """Month-to-date cumulative usage as bars (each day's own sends darker on top), the
    cumulative ``forecast`` ``(day, total)`` as a dashed line and the monthly ``limit`` as a rule."""
    width, height = 640, 240
    left, right, top, bottom = 56, 12, 14, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    by_day = {bar.day: bar.sent for bar in bars}
    cumulative: list[tuple[int, int, int]] = []  # (day, before, sent)
    total = 0
    for day in range(1, days_in_month + 1):
        if day in by_day:
            cumulative.append((day, total, by_day[day]))
            total += by_day[day]
    peak = max([total, *(value for _, value in forecast), limit or 0])
    y_max = _nice_ceiling(peak * 1.05 if peak else 10)
    slot = plot_w / days_in_month

    def x_of(day: float) -> float:
        return left + (day - 1) * slot

    def y_of(value: float) -> float:
        return top + plot_h - (value / y_max) * plot_h

    label = escape(month_label or "month to date")
    parts = [
        f'<svg class="chart month-chart" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
        f'preserveAspectRatio="xMidYMid meet">',
        f"<title>{label}</title>",
    ]
    for i in range(5):
        value = y_max * i / 4
        y = y_of(value)
        parts.append(f'<line class="grid" x1="{left}" y1="{_fmt(y)}" x2="{width - right}" y2="{_fmt(y)}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{_fmt(y + 4)}" text-anchor="end">{_tick(value)}</text>')
    for day in range(1, days_in_month + 1):
        if day == 1 or day % 5 == 0:
            parts.append(f'<text class="axis" x="{_fmt(x_of(day) + slot / 2)}" y="{height - 10}" '
                         f'text-anchor="middle">{day}</text>')
    bar_w = max(slot * 0.7, 1.0)
    for day, before, sent in cumulative:
        x = x_of(day) + (slot - bar_w) / 2
        tip = _("Day %(day)s: %(sent)s sent (month total %(total)s)", day=day, sent=_num(sent),
                total=_num(before + sent))
        parts.append(f'<g class="bar"><title>{escape(tip)}</title>')
        if before:
            parts.append(f'<rect class="bar-before" x="{_fmt(x)}" y="{_fmt(y_of(before))}" width="{_fmt(bar_w)}" '
                         f'height="{_fmt(y_of(0) - y_of(before))}"/>')
        if sent:
            parts.append(f'<rect class="bar-day" x="{_fmt(x)}" y="{_fmt(y_of(before + sent))}" '
                         f'width="{_fmt(bar_w)}" height="{_fmt(y_of(before) - y_of(before + sent))}"/>')
        parts.append("</g>")
    if forecast:
        points = " ".join(f"{_fmt(x_of(day) + slot / 2)},{_fmt(y_of(value))}" for day, value in forecast)
        parts.append(f'<polyline class="forecast-line" points="{points}" fill="none"/>')
    if limit:
        y = y_of(limit)
        parts.append(f'<line class="limit-line" x1="{left}" y1="{_fmt(y)}" x2="{width - right}" y2="{_fmt(y)}"/>')
        # at the right end, on the side of the rule the forecast is not: the line ends above the
        # rule when the month passes the limit (the label goes under it), below it otherwise
        forecast_over = bool(forecast) and forecast[-1][1] > limit
        below = forecast_over or y - 5 < top + 10
        label_y = y + 13 if below else y - 5
        limit_text = escape(_("limit %(n)s", n=_num(limit)))
        parts.append(f'<text class="limit-label limit-label-{"below" if below else "above"}" '
                     f'x="{width - right - 4}" y="{_fmt(label_y)}" text-anchor="end">{limit_text}</text>')
    parts.append(f'<line class="axis-line" x1="{left}" y1="{_fmt(y_of(0))}" x2="{width - right}" '
                 f'y2="{_fmt(y_of(0))}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def minute_bars(counts: Sequence[int], *, title: str = "webhook events per minute") -> Markup:
    """A compact bar strip (oldest left) for per-minute counts, with the peak on the axis."""
    width, height, pad = 360, 64, 2
    peak = max(counts, default=0)
    n = max(len(counts), 1)
    slot = (width - 2 * pad) / n
    parts = [
        f'<svg class="chart minute-bars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'preserveAspectRatio="none">',
        f"<title>{escape(title)}: peak {_num(peak)}/min</title>",
        f'<line class="axis-line" x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}"/>',
    ]
    for i, count in enumerate(counts):
        if not count:
            continue
        h = (count / peak) * (height - 6)
        minutes_ago = len(counts) - i - 1
        parts.append(f'<rect class="bar-day" x="{_fmt(pad + i * slot)}" y="{_fmt(height - 1 - h)}" '
                     f'width="{_fmt(max(slot - 1, 0.5))}" height="{_fmt(h)}">'
                     f"<title>{_num(count)} events, {minutes_ago} min ago</title></rect>")
    parts.append("</svg>")
    return Markup("".join(parts))


def rate_bar(rate: float | None, *, warn_at: float = 0.05) -> Markup:
    """A small horizontal bar for a 0..1 rate (block rate per step); ``warn`` above ``warn_at``."""
    width, height = 80, 10
    if rate is None:
        return Markup(f'<svg class="rate-bar" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
                      f'aria-hidden="true"><rect class="rate-track" width="{width}" height="{height}" rx="3"/></svg>')
    clamped = min(max(rate, 0.0), 1.0)
    state = "warn" if rate > warn_at else "ok"
    return Markup(
        f'<svg class="rate-bar rate-{state}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-hidden="true"><rect class="rate-track" width="{width}" height="{height}" rx="3"/>'
        f'<rect class="rate-value" width="{_fmt(max(clamped * width, 1.0 if rate else 0.0))}" height="{height}" '
        f'rx="3"/></svg>'
    )


@dataclass(frozen=True)
class FunnelRow:
    """One step of a scenario's funnel: how many got it, clicked its links, replied, blocked after."""

    label: str
    sent: int
    clicked: int
    replies: int
    blocked: int


def funnel(rows: Sequence[FunnelRow], *, title: str = "scenario funnel",
           legend: tuple[str, str, str, str] = ("sent", "clicked", "replied", "blocked after")) -> Markup:
    """Per step, bars of sent / clicked / replied / blocked after, scaled to the largest ``sent``;
    the percentages are of that step's sent."""
    label_w, bar_w, row_h, bar_h, top = 150, 420, 58, 11, 26
    width, height = label_w + bar_w + 90, top + row_h * max(len(rows), 1) + 4
    scale = max([r.sent for r in rows] + [1])
    parts = [f'<svg class="chart funnel" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'width="100%">', f"<title>{escape(title)}</title>"]
    kinds = ("sent", "clicked", "replied", "blocked")
    for i, (kind, name) in enumerate(zip(kinds, legend, strict=True)):
        x = label_w + i * 110
        parts.append(f'<rect class="funnel-{kind}" x="{x}" y="6" width="10" height="10"/>'
                     f'<text class="axis" x="{x + 14}" y="15">{escape(name)}</text>')
    for index, row in enumerate(rows):
        y0 = top + index * row_h
        parts.append(f'<text class="funnel-label" x="0" y="{y0 + 26}">{escape(row.label)}</text>')
        for j, (kind, value) in enumerate(zip(kinds, (row.sent, row.clicked, row.replies, row.blocked), strict=True)):
            y = y0 + j * (bar_h + 2)
            w = max(value * bar_w / scale, 1.0 if value else 0.0)
            share = f" ({value * 100 / row.sent:.1f}%)" if row.sent and kind != "sent" else ""
            parts.append(f'<g><title>{escape(f"{row.label}: {value:,} {kind}{share}")}</title>'
                         f'<rect class="funnel-track" x="{label_w}" y="{y}" width="{bar_w}" height="{bar_h}"/>'
                         f'<rect class="funnel-{kind}" x="{label_w}" y="{y}" width="{_fmt(w)}" '
                         f'height="{bar_h}"/><text class="axis" x="{label_w + bar_w + 6}" y="{y + bar_h - 1}">'
                         f'{_num(value)}{escape(share)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
