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

    from app.cli.i18n import i18n_group

    app.cli.add_command(i18n_group)

    from app.cli.staff import staff_group

    app.cli.add_command(staff_group)

    from app.cli.audit import audit_group

    app.cli.add_command(audit_group)

    from app.cli.routes import routes_group

    app.cli.add_command(routes_group)
    from app.cli.contacts import fields_group, friends_group, segments_group

    app.cli.add_command(fields_group)
    app.cli.add_command(segments_group)
    app.cli.add_command(friends_group)
    from app.cli.rulesets import rulesets_group

    app.cli.add_command(rulesets_group)

    from app.cli.richmenus import richmenus_group

    app.cli.add_command(richmenus_group)
