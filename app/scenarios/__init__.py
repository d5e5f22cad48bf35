"""Scenario documents: schema, loading with positions, timeline, filters, rendering, rule matching.

Pure Python (no database, Flask or RQ); import the submodules directly.
"""
