"""Measurement (SPEC §10): tracked links, goals, statistics and friend-add routes — pure parts."""
