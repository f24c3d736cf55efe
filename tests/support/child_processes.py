"""Child processes of the suite and of the benches die with their parent.

``preexec_fn=die_with_parent`` asks Linux (prctl PR_SET_PDEATHSIG) to send the child SIGTERM
when the process that started it dies, even by SIGKILL (a CI job cancelled, a timed-out bench),
so no redis-server, gunicorn or worker is left running. Elsewhere it does nothing. The signal
follows the *thread* that forked, so start children from the main thread.
"""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Runs in the child between fork and exec."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
