"""Minimal safetensors reader/writer (8-byte LE header length + JSON header + raw data).

No dependencies beyond numpy/torch. Tensors are stored contiguous, little endian.
"""
import json
import struct

import numpy as np

_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
       "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
_NAME = {np.dtype(v).str: k for k, v in _NP.items()}


def _to_numpy(t):
    try:
        import torch
        if isinstance(t, torch.Tensor):
            if t.dtype == torch.bfloat16:
                return t.detach().cpu().to(torch.float32).numpy()
            return t.detach().cpu().contiguous().numpy()
    except ImportError:
        pass
    return np.ascontiguousarray(np.asarray(t))


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array or torch tensor. metadata: dict str -> str."""
    header = {}
    blobs = []
    off = 0
    for name in tensors:
        t = tensors[name]
        if getattr(t, "dtype", None) is not None and str(t.dtype) == "torch.bfloat16":
            import torch
            b = t.detach().cpu().contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
            header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
            blobs.append(b)
            off += len(b)
            continue
        a = _to_numpy(t)
        a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<")))
        dt = _NAME.get(np.dtype(a.dtype).newbyteorder("<").str) or _NAME[a.dtype.str]
        b = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path, names=None):
    """Returns (dict name -> numpy array, metadata dict). BF16 is widened to float32."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        if names is not None and name not in names:
            continue
        b, e = info["data_offsets"]
        dt = info["dtype"]
        raw = data[base + b: base + e]
        if dt == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            a = np.frombuffer(raw, dtype=np.dtype(_NP[dt]).newbyteorder("<"))
        out[name] = a.reshape(info["shape"]).copy()
    return out, meta


def load_torch(path):
    import torch
    arrs, meta = load(path)
    return {k: torch.from_numpy(v) for k, v in arrs.items()}, meta
