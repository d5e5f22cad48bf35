"""Use cases: one public function per thing a staff member, a friend or a job does.

Views, CLI commands and jobs call these and nothing deeper for what changes state; the ones jobs
and the scheduler run open their own transactions, the staff-facing ones run in the one their
view or command opens. Work for a worker is handed on through an ``enqueue`` function they are
given (``app.work``): no use case knows RQ.
"""
