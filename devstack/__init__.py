"""Run the Procfile processes locally (demo, end-to-end tests, benchmarks) — one place for it."""
