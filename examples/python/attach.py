#!/usr/bin/env python3
"""The attach socket client, kept runnable here: it now lives in the memfd_pool package
(clients/python, ``pip install ./clients/python``; docs/attach-protocol.md).

    python3 examples/python/attach.py ping|read|register ...   # as before
    from attach import AttachClient                              # as before (this folder on sys.path)

This file only finds the package: the repository's copy first (so the example always matches
the server beside it), else an installed one.
"""

import os
import sys

_SOURCE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "..", "..", "clients", "python", "src"))
if os.path.isdir(os.path.join(_SOURCE, "memfd_pool")):
    sys.path.insert(0, _SOURCE)

from memfd_pool.attach import *  # noqa: E402,F401,F403  (the names `from attach import ...` used)
from memfd_pool.attach import AttachClient, AttachError, ProtocolError, main  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
