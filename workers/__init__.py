"""RQ jobs, the queue registry and the scheduler loop: thin adapters over app services."""
