"""python tests/skewed_node.py OFFSET_S --id N [--demo]: node N run with its wall clock OFFSET_S seconds off
(the monotonic clock is untouched), as on a machine whose clock was set wrong. ServerProcess sets PYTHONPATH to
the repository; tests/test_peer_auth.py uses it."""

import sys

from runtime.clock import SystemClock
from server.__main__ import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[2:], clock=SystemClock(offset_s=float(sys.argv[1]))))
