"""Conversations (SPEC §9): the per-friend message log, rule sets, handoffs, rich menus — plain Python."""
