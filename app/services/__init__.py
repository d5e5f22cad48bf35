"""Service layer shared by views, CLI commands and jobs."""
