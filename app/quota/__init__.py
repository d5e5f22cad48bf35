"""Monthly message quota (SPEC §4): reserve before a push, hold when gone, resume, forecast, alert."""
