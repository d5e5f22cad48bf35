"""A LINE Messaging API simulator (push, multicast, reply, profile, quota) for dev, tests, demo and bench.

Start it with ``python -m linesim`` or ``linesim.testing.run_simulator()``; ``linesim.control``
documents the ``/_sim/`` control API.
"""
