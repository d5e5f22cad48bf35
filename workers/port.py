"""RQ behind :class:`app.work.Work`: the only place the web app's hand-overs meet RQ."""

from __future__ import annotations

from rq import Worker

from app.extensions import redis_handle
from app.work import QueueState, WorkerState
from workers import conversation_jobs, delivery_jobs, event_jobs, scenario_jobs
from workers.queues import ALL_QUEUES, DEFAULT, enqueue, get_queue


class RQWork:
    """:class:`app.work.Work` on the configured Redis."""

    def send_deliveries(self, delivery_ids: list[int]) -> bool:
        return delivery_jobs.enqueue_send(delivery_ids)

    def signal_friends(self, friends: list[tuple[str, str]]) -> bool:
        return event_jobs.signal_friends(friends)

    def enroll_audience(self, scenario_id: str) -> bool:
        return enqueue(DEFAULT, scenario_jobs.enroll_audience_job, scenario_id)

    def send_operator_message(self, message_id: int) -> bool:
        return conversation_jobs.enqueue_operator_message(message_id)

    def queues(self) -> list[QueueState]:
        states = []
        for name in ALL_QUEUES:
            queue = get_queue(name)
            states.append(QueueState(name, queue.count, queue.failed_job_registry.count))
        return states

    def workers(self) -> list[WorkerState]:
        return [WorkerState(worker.name, str(worker.get_state()), [q.name for q in worker.queues],
                            worker.get_current_job_id(), worker.last_heartbeat)
                for worker in Worker.all(connection=redis_handle.client)]
