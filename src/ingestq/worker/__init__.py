"""The worker process: takes jobs from the queue and runs them to their next state.

:mod:`worker` is the loop (long-running or a burst) with recovery and callback
delivery beside it; :mod:`runner` turns one attempt's outcome or exception into
the job's next state; :mod:`lock` keeps one worker per home; :mod:`callbacks`
sends the outbox.
"""
