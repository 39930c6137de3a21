"""Shared by the tests that download: serve a local folder over HTTP, so nothing leaves the
machine (the official Silverbox loader, the published results, pip's package indexes)."""

import contextlib
import http.server
import threading

__all__ = ["serving"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(folder):
    """Serve ``folder`` on 127.0.0.1 (a free port) while the block runs; yields the base URL."""

    def handler(*args, **kwargs):
        return _QuietHandler(*args, directory=str(folder), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
