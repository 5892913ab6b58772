"""A small progress bar on stderr, so stdout stays clean for ``--json`` output."""

import sys
import time


class Progress:
    """``for x in Progress(items, "scoring"):`` prints ``scoring 120/400 [ 30%] 2.1s`` on stderr."""

    def __init__(self, items, label, enabled=True, stream=None):
        self.items = list(items)
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr

    def __iter__(self):
        total = len(self.items)
        start = time.perf_counter()
        tty = getattr(self.stream, "isatty", lambda: False)()
        last_decile = -1
        for i, item in enumerate(self.items):
            yield item
            if not self.enabled:
                continue
            done = i + 1
            decile = done * 10 // max(total, 1)
            if tty or decile != last_decile or done == total:
                last_decile = decile
                line = f"{self.label} {done}/{total} [{100 * done // max(total, 1):3d}%] {time.perf_counter() - start:.1f}s"
                self.stream.write(("\r" if tty else "") + line + ("\n" if not tty or done == total else ""))
                self.stream.flush()
