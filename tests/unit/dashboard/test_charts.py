"""Server-side SVG charts are pure functions: numbers in, well-formed escaped SVG out."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from app.admin.dashboard import charts
from app.admin.dashboard.charts import DayBar

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    """Charts must be well-formed XML (inline SVG in HTML forgives less than it seems)."""
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


@pytest.mark.parametrize(("percent", "exhausted", "expected"), [
    (None, False, "none"), (0.0, False, "ok"), (79.99, False, "ok"), (80.0, False, "warn"),
    (99.9, False, "warn"), (100.0, False, "full"), (12.0, True, "full"), (None, True, "full"),
])
def test_level_follows_the_80_and_100_percent_alerts(percent: float | None, exhausted: bool, expected: str) -> None:
    assert charts.level(percent, exhausted) == expected


def test_gauge_shows_percent_used_and_limit() -> None:
    svg = charts.quota_gauge(850, 1000)
    root = parse(svg)
    assert "gauge-warn" in root.attrib["class"]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == ["85.0%", "850 / 1,000"]


def test_gauge_arc_ends_where_the_usage_does() -> None:
    half = parse(charts.quota_gauge(50, 100))
    value = next(p for p in half.iter(f"{SVG}path") if p.attrib["class"] == "gauge-value")
    assert value.attrib["d"].endswith("110 22")  # the top of the half circle at 50 %


def test_empty_gauge_has_no_value_arc() -> None:
    root = parse(charts.quota_gauge(0, 200))
    assert [p.attrib["class"] for p in root.iter(f"{SVG}path")] == ["gauge-track"]


def test_over_the_limit_gauge_is_full_and_clamped() -> None:
    svg = charts.quota_gauge(260, 200)
    assert "gauge-full" in svg and "130.0%" in svg
    value = next(p for p in parse(svg).iter(f"{SVG}path") if p.attrib["class"] == "gauge-value")
    assert value.attrib["d"].endswith("200 112")  # stops at the right end


def test_unlimited_gauge_says_so() -> None:
    svg = charts.quota_gauge(1234, None)
    assert "gauge-none" in svg and "∞" in svg and "1,234 / unlimited" in svg


def test_exhausted_gauge_is_full_even_below_the_limit() -> None:
    assert "gauge-full" in charts.quota_gauge(120, 200, exhausted=True)


def test_gauge_escapes_its_title() -> None:
    svg = charts.quota_gauge(1, 2, title='<script>"x"</script>')
    assert "<script>" not in svg
    parse(svg)


def test_month_chart_stacks_earlier_days_under_each_day() -> None:
    svg = charts.month_chart([DayBar(1, 100), DayBar(2, 50)], 30, limit=1000)
    root = parse(svg)
    rects = [(r.attrib["class"], float(r.attrib["height"])) for r in root.iter(f"{SVG}rect")]
    assert [kind for kind, _ in rects] == ["bar-day", "bar-before", "bar-day"]
    (_, day1), (_, before2), (_, day2) = rects
    assert before2 == pytest.approx(day1) and day2 == pytest.approx(day1 / 2)
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert "Day 2: 50 sent (month total 150)" in titles


def test_month_chart_draws_limit_and_forecast_on_the_same_scale() -> None:
    svg = charts.month_chart([DayBar(1, 500)], 30, limit=1000, forecast=[(1, 500), (30, 2000)])
    root = parse(svg)
    limit = next(line for line in root.iter(f"{SVG}line") if line.attrib["class"] == "limit-line")
    points = next(root.iter(f"{SVG}polyline")).attrib["points"].split()
    y_limit = float(limit.attrib["y1"])
    y_start, y_end = (float(p.split(",")[1]) for p in (points[0], points[-1]))
    assert y_end < y_limit < y_start  # 2,000 above the 1,000 limit above 500
    assert "limit 1,000" in svg


def test_month_chart_without_data_is_still_a_chart() -> None:
    root = parse(charts.month_chart([], 31))
    assert list(root.iter(f"{SVG}rect")) == []
    assert any(t.text == "31" for t in root.iter(f"{SVG}text")) is False  # ticks at 1, 5, 10, ... 30
    assert any(t.text == "30" for t in root.iter(f"{SVG}text"))


def test_axis_maximum_is_a_round_number() -> None:
    assert charts._nice_ceiling(830) == 1000
    assert charts._nice_ceiling(1500) == 2000
    assert charts._nice_ceiling(4100) == 5000
    assert charts._nice_ceiling(0) == 10


def test_minute_bars_scale_to_the_peak_and_skip_empty_minutes() -> None:
    root = parse(charts.minute_bars([0, 5, 10, 0]))
    heights = [float(r.attrib["height"]) for r in root.iter(f"{SVG}rect")]
    assert len(heights) == 2 and heights[1] == pytest.approx(2 * heights[0])


def test_rate_bar_warns_above_the_threshold() -> None:
    assert "rate-ok" in charts.rate_bar(0.01)
    assert "rate-warn" in charts.rate_bar(0.2)
    assert "rate-value" not in charts.rate_bar(None)
    parse(charts.rate_bar(1.5))


def _limit_label_and_rule(svg: str) -> tuple[float, float, float]:
    root = parse(svg)
    label = next(t for t in root.iter(f"{SVG}text") if "limit-label" in t.attrib.get("class", ""))
    rule = next(ln for ln in root.iter(f"{SVG}line") if ln.attrib["class"] == "limit-line")
    points = [tuple(float(v) for v in p.split(",")) for p in next(root.iter(f"{SVG}polyline")).attrib["points"].split()]
    return float(label.attrib["y"]), float(rule.attrib["y1"]), points[-1][1]


def test_limit_label_goes_under_the_rule_when_the_forecast_ends_above_it() -> None:
    label_y, rule_y, forecast_end_y = _limit_label_and_rule(
        charts.month_chart([DayBar(1, 300), DayBar(2, 300)], 30, limit=1000,
                           forecast=[(2, 600), (2, 1050), (30, 1100)]))
    assert forecast_end_y < rule_y < label_y - 10  # forecast above the rule, label's baseline a line below it


def test_limit_label_stays_over_the_rule_when_the_forecast_ends_below_it() -> None:
    label_y, rule_y, forecast_end_y = _limit_label_and_rule(
        charts.month_chart([DayBar(1, 300)], 30, limit=1000, forecast=[(1, 300), (30, 900)]))
    assert label_y < rule_y < forecast_end_y
