"""Webhook events as the domain sees them: the ledger (each webhookEventId once) and what an
event does to a friend's state."""
