#!/usr/bin/env python3
"""Half-precision storage of the page's bundled weights (issue 16: the site's size budget).

    python3 scripts/web_weights.py round IN.bpk OUT.bpk   # f32 file, matrices rounded to f16 values
    python3 scripts/web_weights.py f16 IN.bpk OUT.bpk     # the same weights stored as f16
    python3 scripts/web_weights.py widen IN.bpk OUT.bpk   # an f16 file back to f32
    python3 scripts/web_weights.py stat FILE.bpk...       # tensors, dtypes, bytes
    python3 scripts/web_weights.py dist SRC DST           # `f16` for every model of SRC/manifest.json

The page's models live in `web/models/*.bpk` as f32 burnpack files whose weight matrices and
convolution kernels (every float tensor of two or more dimensions) hold values that f16
represents exactly (`round`, applied by scripts/make_web_models.py); one-dimensional tensors
(BatchNorm scales, shifts and running statistics, biases: under 1% of the bytes) stay full f32.
The native CLI reads those files as they are. scripts/build-dist.sh stores the same tensors as
f16 in `dist/` (`f16`, which refuses a tensor that would lose a bit, so `dist/` holds exactly the
committed weights at half the size), and the page widens them back to f32 when it loads them
(`web/src/weights.rs`), so the browser computes with the same f32 numbers as the CLI.

Burnpack (Burn 0.22's `burn-pack` crate): a 10-byte header (magic "BURN" as u32 LE, version
u16, metadata length u32), CBOR metadata {tensors: {name: {dtype, shape, data_offsets,
param_id}}, metadata?, scalars?}, then the data section, starting at the next multiple of 256,
with every tensor at a 256-aligned offset. Pure Python (no NumPy), so the dist build needs
nothing beyond python3.
"""
import json
import struct
import sys
from pathlib import Path

MAGIC = 0x4255524E
VERSION = 1
HEADER = struct.Struct("<IHI")
ALIGN = 256


def fail(message):
    sys.exit(f"web_weights: {message}")


# ---- a CBOR subset (RFC 8949): what ciborium writes for burnpack metadata -------------------

def cbor_decode(data, pos=0):
    """Decodes one CBOR item at `pos`; returns (value, next position)."""
    initial = data[pos]
    major, info = initial >> 5, initial & 31
    pos += 1
    if info < 24:
        arg = info
    elif info in (24, 25, 26, 27):
        width = 1 << (info - 24)
        if major == 7:
            raw = data[pos:pos + width]
            pos += width
            if width == 1:
                return raw[0], pos  # simple value
            value = struct.unpack({2: ">e", 4: ">f", 8: ">d"}[width], raw)[0]
            return value, pos
        arg = int.from_bytes(data[pos:pos + width], "big")
        pos += width
    else:
        raise ValueError(f"unsupported CBOR item 0x{initial:02x} (indefinite length) at byte {pos - 1}")
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major == 2:
        return bytes(data[pos:pos + arg]), pos + arg
    if major == 3:
        return data[pos:pos + arg].decode("utf-8"), pos + arg
    if major == 4:
        items = []
        for _ in range(arg):
            item, pos = cbor_decode(data, pos)
            items.append(item)
        return items, pos
    if major == 5:
        entries = {}
        for _ in range(arg):
            key, pos = cbor_decode(data, pos)
            entries[key], pos = cbor_decode(data, pos)
        return entries, pos
    if major == 7:
        simple = {20: False, 21: True, 22: None}
        if arg in simple:
            return simple[arg], pos
    raise ValueError(f"unsupported CBOR item 0x{initial:02x} at byte {pos - 1}")


def cbor_head(major, arg):
    if arg < 24:
        return bytes([major << 5 | arg])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 1 << (8 * width):
            return bytes([major << 5 | info]) + arg.to_bytes(width, "big")
    raise ValueError(f"integer {arg} does not fit CBOR")


def cbor_encode(value):
    """Encodes with the shortest heads, as ciborium does (maps keep their order)."""
    if value is False or value is True or value is None:
        return bytes([0xF4 + [False, True, None].index(value)])
    if isinstance(value, int):
        return cbor_head(0, value) if value >= 0 else cbor_head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, bytes):
        return cbor_head(2, len(value)) + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return cbor_head(3, len(raw)) + raw
    if isinstance(value, (list, tuple)):
        return cbor_head(4, len(value)) + b"".join(cbor_encode(v) for v in value)
    if isinstance(value, dict):
        return cbor_head(5, len(value)) + b"".join(cbor_encode(k) + cbor_encode(v) for k, v in value.items())
    raise TypeError(f"cannot encode {type(value).__name__} as CBOR")


# ---- burnpack ---------------------------------------------------------------------------------

def data_start(metadata_len):
    return -(-(HEADER.size + metadata_len) // ALIGN) * ALIGN


def read_burnpack(path):
    """Returns (metadata without tensors, {name: descriptor with its bytes as 'data'})."""
    raw = Path(path).read_bytes()
    if len(raw) < HEADER.size:
        fail(f"{path}: not a burnpack file (only {len(raw)} bytes)")
    magic, version, metadata_len = HEADER.unpack_from(raw)
    if magic != MAGIC or version != VERSION:
        fail(f"{path}: not a burnpack file (magic 0x{magic:08x}, version {version})")
    try:
        metadata, end = cbor_decode(raw, HEADER.size)
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        fail(f"{path}: unreadable burnpack metadata: {e}")
    if end != HEADER.size + metadata_len or not isinstance(metadata, dict) or "tensors" not in metadata:
        fail(f"{path}: unreadable burnpack metadata")
    start = data_start(metadata_len)
    tensors = {}
    for name, desc in metadata.pop("tensors").items():
        lo, hi = desc["data_offsets"]
        if start + hi > len(raw) or lo > hi:
            fail(f"{path}: tensor {name} lies outside the file")
        tensors[name] = dict(desc, data=raw[start + lo:start + hi])
    return metadata, tensors


def write_burnpack(path, metadata, tensors):
    """Writes tensors in the order of their data in the file they were read from (else by
    name), each at a 256-aligned offset of the data section."""
    descriptors, chunks, offset = {}, [], 0
    for name in sorted(tensors, key=lambda n: (tensors[n].get("data_offsets", [0])[0], n)):
        t = tensors[name]
        offset = -(-offset // ALIGN) * ALIGN
        desc = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [offset, offset + len(t["data"])]}
        if t.get("param_id") is not None:
            desc["param_id"] = t["param_id"]
        descriptors[name] = desc
        chunks.append((offset, t["data"]))
        offset += len(t["data"])
    descriptors = {name: descriptors[name] for name in sorted(descriptors)}  # a BTreeMap in Rust
    encoded = cbor_encode(dict({"tensors": descriptors}, **metadata))
    start = data_start(len(encoded))
    out = bytearray(start + offset)
    out[:HEADER.size] = HEADER.pack(MAGIC, VERSION, len(encoded))
    out[HEADER.size:HEADER.size + len(encoded)] = encoded
    for at, data in chunks:
        out[start + at:start + at + len(data)] = data
    Path(path).write_bytes(bytes(out))


def halved(name, t):
    """Whether a tensor is stored as f16: float matrices and kernels (2+ dimensions)."""
    return t["dtype"] in ("F32", "F16") and len(t["shape"]) >= 2


def f32_values(t):
    n = len(t["data"]) // 4
    return struct.unpack(f"<{n}f", t["data"])


def to_f16_bytes(name, values):
    try:
        return struct.pack(f"<{len(values)}e", *values)
    except OverflowError:
        fail(f"tensor {name} has a value outside the f16 range (|x| > 65504)")


def round_tensors(tensors):
    for name, t in tensors.items():
        if halved(name, t) and t["dtype"] == "F32":
            half = to_f16_bytes(name, f32_values(t))
            t["data"] = struct.pack(f"<{len(t['data']) // 4}f", *struct.unpack(f"<{len(half) // 2}e", half))


def store_f16(tensors, path):
    for name, t in tensors.items():
        if halved(name, t) and t["dtype"] == "F32":
            values = f32_values(t)
            half = to_f16_bytes(name, values)
            if struct.unpack(f"<{len(values)}e", half) != values:
                fail(f"{path}: tensor {name} is not f16-exact; bundle it with scripts/make_web_models.py "
                     f"(or `web_weights.py round`) first")
            t["dtype"], t["data"] = "F16", half


def widen(tensors):
    for t in tensors.values():
        if t["dtype"] == "F16":
            n = len(t["data"]) // 2
            t["dtype"], t["data"] = "F32", struct.pack(f"<{n}f", *struct.unpack(f"<{n}e", t["data"]))


def bundle_f16(src, dst):
    """Stores every model of SRC/manifest.json as f16 in DST and writes the manifest there with
    the new file sizes (`bytes`); other files are left to the caller."""
    src, dst = Path(src), Path(dst)
    manifest = json.loads((src / "manifest.json").read_text())
    dst.mkdir(parents=True, exist_ok=True)
    for model in manifest["models"]:
        metadata, tensors = read_burnpack(src / model["weights"])
        store_f16(tensors, src / model["weights"])
        write_burnpack(dst / model["weights"], metadata, tensors)
        model["bytes"] = (dst / model["weights"]).stat().st_size
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main(argv):
    if len(argv) >= 2 and argv[0] == "stat":
        for path in argv[1:]:
            _, tensors = read_burnpack(path)
            by_dtype = {}
            for t in tensors.values():
                count, size = by_dtype.get(t["dtype"], (0, 0))
                by_dtype[t["dtype"]] = (count + 1, size + len(t["data"]))
            parts = ", ".join(f"{d}: {c} tensors, {s} bytes" for d, (c, s) in sorted(by_dtype.items()))
            print(f"{path}: {Path(path).stat().st_size} bytes; {parts}")
        return
    if len(argv) == 3 and argv[0] == "dist":
        bundle_f16(argv[1], argv[2])
        return
    if len(argv) != 3 or argv[0] not in ("round", "f16", "widen"):
        sys.exit(__doc__.split("\n\n")[1])
    command, src, dst = argv
    metadata, tensors = read_burnpack(src)
    {"round": round_tensors, "f16": lambda t: store_f16(t, src), "widen": widen}[command](tensors)
    write_burnpack(dst, metadata, tensors)


if __name__ == "__main__":
    main(sys.argv[1:])
