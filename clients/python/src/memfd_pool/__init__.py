"""memfd-pool clients for Python (standard library only, Linux, Python 3.9+).

- ``memfd_pool.attach``: map a server's buffers by id and token, register sealed memfds
  (docs/attach-protocol.md).
- ``memfd_pool.worker``: serve job kinds written in Python as an external worker
  (docs/worker-protocol.md); ``python3 -m memfd_pool.worker --socket PATH kinds.py``.
"""

from .attach import AttachClient, AttachError, ProtocolError
from .worker import Cancelled, Context, Output, Worker, WorkerRefused, kind

__all__ = [
    "AttachClient", "AttachError", "ProtocolError",
    "Cancelled", "Context", "Output", "Worker", "WorkerRefused", "kind",
]
__version__ = "0.1.0"
