"""``python -m linesim`` starts as its own process with the CLI's options (as benchmarks use it)."""

from __future__ import annotations

from linesim.testing import run_simulator


def test_subprocess_simulator_serves_with_cli_options() -> None:
    with run_simulator(subprocess=True, quota=2, tokens={"default": "test-token", "shop": "shop-token"}) as sim:
        assert sim.api("GET", "/v2/bot/message/quota")[2] == {"type": "limited", "value": 2}
        assert sim.api("GET", "/v2/bot/message/quota", token="shop-token")[0] == 200
        body = {"to": "U1", "messages": [{"type": "text", "text": "hi"}]}
        assert sim.api("POST", "/v2/bot/message/push", body)[0] == 200
        assert sim.deliveries(to="U1")[0]["channel"] == "default"
