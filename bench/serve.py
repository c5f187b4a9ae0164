"""`streamlit run` with one addition, for the memory measurement only: on SIGUSR1 the server process runs
gc.collect() and glibc's malloc_trim(0), so that RSS read afterwards shows memory still held (the sessions'
state) rather than garbage not yet collected or freed heap not yet returned to the OS. When the process
traces allocations (PYTHONTRACEMALLOC=1) and BENCH_HEAP_FILE names a file, the handler then writes the
bytes Python holds there (tracemalloc's current size): the heap without the allocator's slack.

    python bench/serve.py run app.py --server.port ...     (same arguments as `streamlit`)

The app's code is not touched; the handler runs in the main thread between two event-loop steps.
"""

import ctypes
import gc
import os
import signal
import sys
import tracemalloc

sys.path.pop(0)  # this folder: nothing here should shadow a top-level module (Streamlit adds the app's own)


def _collect(signum, frame):  # noqa: ARG001
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    if tracemalloc.is_tracing() and os.environ.get("BENCH_HEAP_FILE"):
        with open(os.environ["BENCH_HEAP_FILE"], "a") as f:  # one line per signal, appended
            f.write(f"{tracemalloc.get_traced_memory()[0]}\n")


signal.signal(signal.SIGUSR1, _collect)

from streamlit.web import cli  # noqa: E402

sys.exit(cli.main(prog_name="streamlit"))
