"""A memfd-pool worker in 15 lines: `pip install ./clients/python numpy`, then run this file.

Serves the kind "np-invert": 255 - b for every byte of one input, into one output, with numpy
working directly on the mapped input and output (no copy in, no copy out)."""
import numpy as np
from memfd_pool import Worker

w = Worker.connect()  # $MEMFD_POOL_WORKER_SOCKET, else beside the attach socket

@w.kind("np-invert", inputs=1, outputs=1, params={"type": "object", "additionalProperties": False})
def invert(ctx):
    """255 - b for every byte (numpy, zero copy)."""
    src = np.frombuffer(ctx.inputs[0], np.uint8)   # a read-only view of the mapped input
    out = ctx.output(src.nbytes)                    # a new memfd, mapped writable
    np.subtract(255, src, out=np.frombuffer(out, np.uint8))
    return {"bytes": int(src.nbytes)}

w.run(concurrency=2)
