"""Ctrl-C at a step boundary: the first SIGINT asks the loop to stop, a second one stops it at once.

A ``KeyboardInterrupt`` raised in the middle of a training step can leave the step half done (the
dropout generator drawn, batch-norm statistics updated, the optimiser not yet stepped), and no
checkpoint of such a state resumes exactly. So while ``StopRequests`` is active in the main thread,
SIGINT only sets ``requested``; the training loop checks it after each step and stops there, where
everything a checkpoint holds belongs to one moment. A second SIGINT raises ``KeyboardInterrupt``
at once, for a step that hangs. Outside the main thread (where Python cannot install signal
handlers) SIGINT keeps its usual meaning.
"""
import signal
import threading


class StopRequests:
    """Context manager: defer SIGINT to the loop's next check (see the module docstring)."""

    def __init__(self):
        self.requested = False
        self._previous = None
        self._installed = False

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        self.requested = False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._installed = True
        return self

    def __exit__(self, *exc):
        if self._installed:
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
            self._installed = False
        return False
