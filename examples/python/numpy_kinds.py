"""numpy kinds for `python3 -m memfd_pool.worker --socket PATH examples/python/numpy_kinds.py`.

Each kind reads its input through np.frombuffer over the mapping (no copy) and writes its output
straight into the output's mapping."""
import numpy as np

from memfd_pool import kind

DTYPES = ["u8", "u16", "u32", "i32", "f32", "f64"]
NUMPY = {"u8": np.uint8, "u16": "<u2", "u32": "<u4", "i32": "<i4", "f32": "<f4", "f64": "<f8"}


@kind("np-moments", inputs=1, outputs=0, params={
    "type": "object", "required": ["dtype"], "additionalProperties": False,
    "properties": {"dtype": {"enum": DTYPES}}})
def moments(ctx):
    """count, mean, standard deviation, min and max of a little-endian array."""
    values = np.frombuffer(ctx.inputs[0], NUMPY[ctx.params["dtype"]])
    if values.size == 0:
        return {"count": 0}
    return {"count": int(values.size), "mean": float(values.mean(dtype=np.float64)),
            "std": float(values.std(dtype=np.float64)), "min": values.min().item(), "max": values.max().item()}


@kind("np-normalize", inputs=1, outputs=1, params={
    "type": "object", "required": ["dtype"], "additionalProperties": False,
    "properties": {"dtype": {"enum": DTYPES}}})
def normalize(ctx):
    """Scales an array to 0..1 as little-endian float32 (min-max), chunk by chunk with progress."""
    values = np.frombuffer(ctx.inputs[0], NUMPY[ctx.params["dtype"]])
    out = np.frombuffer(ctx.output(values.size * 4), "<f4")
    if values.size == 0:
        return {"count": 0}
    low, high = values.min().item(), values.max().item()
    scale = 1.0 / (high - low) if high != low else 0.0
    step = 1 << 22
    for start in range(0, values.size, step):
        ctx.check_cancelled()
        chunk = values[start:start + step]
        np.multiply(np.subtract(chunk, low, dtype=np.float64), scale, out=out[start:start + step], casting="same_kind")
        ctx.progress((start + chunk.size) / values.size)
    return {"count": int(values.size), "min": low, "max": high}
