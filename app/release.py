"""The Procfile ``release`` step: bring the database schema to the latest migration."""

from __future__ import annotations

from app.config import load_settings
from app.migrate import upgrade_to_head


def main() -> None:
    upgrade_to_head(load_settings().database_url)


if __name__ == "__main__":
    main()
