"""Endpoints friends open in their browser: tracked links (/l/) and friend-add routes (/r/)."""
