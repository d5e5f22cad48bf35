"""Measurement families for /metrics (SPEC §10): clicks, unique clicks, conversions, routes."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from app.extensions import db
from app.models.delivery import GoalConversion
from app.models.measure import LinkClick, Route
from app.services import clicks


def measurement_metrics() -> Iterator[Metric]:
    """Read at scrape time from the database (and the Redis backlog of clicks not yet recorded)."""
    with db.session() as session:
        total = CounterMetricFamily("stepline_link_clicks", "Clicks on tracked links", labels=["scenario", "step"])
        unique = GaugeMetricFamily("stepline_link_unique_clicks", "First clicks per friend and link",
                                   labels=["scenario", "step"])
        real = LinkClick.is_test.is_(False)
        for scenario, step, n in session.execute(sa.select(LinkClick.scenario_id, LinkClick.step_id, sa.func.count())
                                                 .where(real).group_by(LinkClick.scenario_id, LinkClick.step_id)):
            total.add_metric([scenario, step], float(n))
        pairs = (sa.select(LinkClick.scenario_id, LinkClick.step_id, LinkClick.friend_id, LinkClick.link_index)
                 .where(real).distinct().subquery())
        for scenario, step, n in session.execute(sa.select(pairs.c.scenario_id, pairs.c.step_id, sa.func.count())
                                                 .group_by(pairs.c.scenario_id, pairs.c.step_id)):
            unique.add_metric([scenario, step], n)
        goals = CounterMetricFamily("stepline_goal_conversions", "Goal conversions (once per enrollment cycle)",
                                    labels=["scenario", "goal"])
        for scenario, goal, n in session.execute(
                sa.select(GoalConversion.scenario_id, GoalConversion.goal_id, sa.func.count())
                .group_by(GoalConversion.scenario_id, GoalConversion.goal_id)):
            goals.add_metric([scenario, goal], float(n))
        visits = CounterMetricFamily("stepline_route_visits", "Visits of friend-add route URLs", labels=["route"])
        logins = CounterMetricFamily("stepline_route_logins", "LINE Logins completed through a route",
                                     labels=["route"])
        for route_id, visit_count, login_count in session.execute(sa.select(Route.id, Route.visits, Route.logins)):
            visits.add_metric([route_id], float(visit_count))
            logins.add_metric([route_id], float(login_count))
    yield from (total, unique, goals, visits, logins)
    yield GaugeMetricFamily("stepline_link_clicks_queued", "Clicks queued in Redis, not yet recorded",
                            value=clicks.backlog())
