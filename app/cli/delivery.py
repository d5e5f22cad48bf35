"""Delivery commands: ``scenarios test-send|stats`` and ``deliveries list|retry`` (thin over app.delivery)."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from app.cli.scenarios import _reported_errors, scenarios_group
from app.current import current_settings
from app.line.channels import line_client
from app.models.base import utcnow
from app.services import monitoring
from app.services.audit import record_cli
from app.services.delivery import retry_failed
from app.services.test_sends import send_test
from app.work import current_work


@scenarios_group.command("test-send")
@click.argument("scenario_id")
@click.option("--to", "user_ids", multiple=True, required=True, help="a test user id (repeat for several)")
@click.option("--step", default=None, help="only this step (default: every step, one after the other)")
def test_send_command(scenario_id: str, user_ids: tuple[str, ...], step: str | None) -> None:
    """Push a step (or all steps, compressed) of SCENARIO_ID to test users now."""
    settings = current_settings()
    with _reported_errors():
        result = send_test(lambda channel: line_client(settings, channel), scenario_id, list(user_ids), step)
    summary = result.summary
    record_cli("scenarios.test_send", scenario_id, recipients=len(user_ids), step=step)
    click.echo(f"{scenario_id}: steps {', '.join(result.steps)} -> sent {summary.sent}, failed {summary.failed}, "
               f"retrying {summary.retrying}, held {summary.held}, skipped {summary.skipped}")
    for reason in result.errors:
        click.echo(f"  reason: {reason}", err=True)
    if summary.failed or summary.held or summary.retrying:
        raise SystemExit(1)


@scenarios_group.command("stats")
@click.argument("scenario_id")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def stats_command(scenario_id: str, as_json: bool) -> None:
    """Enrollments, deliveries, replies, goals and block rate per step of SCENARIO_ID."""
    with _reported_errors():
        result = monitoring.scenario_stats(scenario_id)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    t = result.totals
    click.echo(f"{scenario_id}: enrolled {t.enrolled}, active {t.active}, completed {t.completed}, "
               f"blocked {t.blocked}, sent {t.sent}, failed {t.failed}, held {t.held}, replies {t.replies}, "
               f"goals {t.goal_conversions}")
    click.echo(f"{'step':<24}{'sent':>8}{'failed':>8}{'held':>8}{'replies':>9}{'blocked':>9}{'block%':>8}"
               f"{'clicks':>8}{'unique':>8}{'click%':>8}{'skipped':>9}")
    for s in result.steps:
        rate = f"{s.block_rate * 100:.1f}" if s.block_rate is not None else "-"
        click_rate = f"{s.click_rate * 100:.1f}" if s.click_rate is not None else "-"
        click.echo(f"{s.step_id:<24}{s.sent:>8}{s.failed:>8}{s.held:>8}{s.replies:>9}{s.blocked:>9}{rate:>8}"
                   f"{s.clicks:>8}{s.unique_clicks:>8}{click_rate:>8}{s.skipped:>9}")
    for goal, count in result.goals.items():
        share = f" ({count * 100 / t.enrolled:.1f}% of enrolled)" if t.enrolled else ""
        click.echo(f"goal {goal}: {count}{share}")


@click.group("deliveries", cls=AppGroup)  # commands run inside the app context
def deliveries_group() -> None:
    """The outbox: list deliveries by status, retry failed ones."""


@deliveries_group.command("list")
@click.option("--status", default="failed", show_default=True)
@click.option("--scenario", "scenario_id", default=None)
@click.option("--limit", default=50, show_default=True)
def list_command(status: str, scenario_id: str | None, limit: int) -> None:
    """Newest deliveries with STATUS and LINE's error."""
    rows = monitoring.deliveries(status=status or None, scenario_id=scenario_id, limit=limit)
    for row in rows:
        click.echo(f"{row['id']:>8} {row['status']:<9} {row['scenario_id']}/{row['step_id']} {row['user_id']} "
                   f"attempts={row['attempts']} {row['error'] or ''}")


@deliveries_group.command("retry")
@click.argument("delivery_ids", nargs=-1, type=int, required=True)
def retry_command(delivery_ids: tuple[int, ...]) -> None:
    """Queue failed deliveries again under new retry keys."""
    with _reported_errors():
        retry_failed(delivery_ids, utcnow(), current_work().send_deliveries)
    record_cli("deliveries.retry", ",".join(str(i) for i in delivery_ids))
    click.echo(f"{len(delivery_ids)} deliveries queued again")
