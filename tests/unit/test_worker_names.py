"""RQ workers are named host:pid, so an operator can match the dashboard's row to a process."""

from __future__ import annotations

import os
import socket

from workers.worker import worker_name


def test_worker_is_named_host_and_pid() -> None:
    assert worker_name() == f"{socket.gethostname()}:{os.getpid()}"


def test_a_restarted_worker_in_the_same_process_gets_a_distinct_name() -> None:
    assert worker_name(2) == f"{socket.gethostname()}:{os.getpid()}.2"
