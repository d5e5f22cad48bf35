"""``flask --app wsgi ...`` commands: thin wrappers over the service layer."""

from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    """Attach every command group to ``app``."""
    from app.cli.db import db_group

    app.cli.add_command(db_group)

    from app.cli.scenarios import scenarios_group

    app.cli.add_command(scenarios_group)

    from app.cli.delivery import deliveries_group

    app.cli.add_command(deliveries_group)

    from app.cli.rulesets import rulesets_group

    app.cli.add_command(rulesets_group)

    from app.cli.richmenus import richmenus_group

    app.cli.add_command(richmenus_group)
