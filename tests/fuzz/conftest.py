"""Property-based fuzzing (hypothesis, schemathesis): short profile in the normal run, a long
one by ``HYPOTHESIS_PROFILE=long ./stepline test tests/fuzz``."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                              HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}
# "bounded time": an example slower than the deadline fails (generous: the CI machine is shared)
# short (the test command, CI): the same examples every run, so a red CI is a regression, not luck;
# medium/long explore new examples each run
settings.register_profile("short", max_examples=30, deadline=5000, derandomize=True, **_COMMON)
settings.register_profile("medium", max_examples=300, deadline=5000, derandomize=False, **_COMMON)
settings.register_profile("long", max_examples=2000, deadline=5000, derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "short"))
