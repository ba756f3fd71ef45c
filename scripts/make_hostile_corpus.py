#!/usr/bin/env python3
"""Writes the hostile-input corpus of tests/tests/hostile_input.rs into tests/hostile/ (issue 13).

Every file is generated here from nothing (no download): broken and odd images, decompression
bombs, archives with escaping paths and gzip bombs, safetensors with lying headers, pickles that
try to run code, and .npy files with wrong shapes and dtypes. Layouts that git cannot hold
(symlink loops, FIFOs, unreadable files, empty folders) and NaN weights (patched into a
committed fixture) are built by the test itself.

    python3 scripts/make_hostile_corpus.py [OUT_DIR]   # default: tests/hostile

Deterministic: running it twice gives the same bytes (fixed seeds, fixed tar/gzip times).
"""

import gzip
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "hostile")
RNG = np.random.default_rng(13)


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def pil_bytes(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_raw(width, height, bit_depth, colour, rows_compressed):
    """A PNG from an already compressed IDAT stream (so bombs cost only their compressed size)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", rows_compressed) + png_chunk(b"IEND", b"")


def zeros_deflated(total, level=9):
    """zlib stream of `total` zero bytes, compressed in pieces (never all in memory)."""
    c = zlib.compressobj(level)
    out = []
    piece = bytes(1 << 20)
    left = total
    while left:
        n = min(left, len(piece))
        out.append(c.compress(piece[:n]))
        left -= n
    out.append(c.flush())
    return b"".join(out)


def rgb_image(w, h):
    return Image.fromarray(RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8), "RGB")


def images():
    good = rgb_image(40, 40)
    png = pil_bytes(good, "PNG")
    jpg = pil_bytes(good, "JPEG", quality=90)
    write("images/good.png", png)
    # broken files
    write("images/zero.png", b"")
    write("images/truncated.png", png[: len(png) // 2])
    write("images/header_only.png", png[:33])
    write("images/truncated.jpg", jpg[: len(jpg) // 3])
    write("images/garbage.jpg", RNG.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    write("images/text.png", b"this is a text file with an image extension\n")
    # decompression bombs: tiny files declaring huge images
    write("images/bomb_ihdr.png", png_raw(100000, 100000, 8, 2, zlib.compress(b"\x00" * 64)))
    # a real PNG bomb: 40000 x 40000 1-bit (200 MB of rows, ~200 kB compressed), 1.6 GB as 8-bit
    write("images/bomb_40000_1bit.png", png_raw(40000, 40000, 1, 0, zeros_deflated(40000 * (40000 // 8 + 1))))
    # a declared 20000 x 20000 RGB (1.2 GB decoded) with almost no data
    write("images/huge_20000_rgb.png", png_raw(20000, 20000, 8, 2, zlib.compress(b"\x00" * 1024)))
    # a real, complete 20000 x 20000 image (1-bit, 50 MB of rows): must decode, or be refused clearly
    write("images/big_20000_1bit.png", png_raw(20000, 20000, 1, 0, zeros_deflated(20000 * (20000 // 8 + 1))))
    sof = bytearray(jpg)
    i = sof.find(b"\xff\xc0")
    assert i > 0
    struct.pack_into(">HH", sof, i + 5, 65000, 65000)  # height, width
    write("images/bomb_sof.jpg", bytes(sof))
    gif = bytearray(pil_bytes(Image.new("P", (4, 4)), "GIF"))
    struct.pack_into("<HH", gif, 6, 65535, 65535)  # logical screen
    j = gif.find(b"\x2c")  # image descriptor: left, top, width, height
    struct.pack_into("<HH", gif, j + 5, 65535, 65535)
    write("images/bomb_screen.gif", bytes(gif))
    bmp = bytearray(pil_bytes(Image.new("RGB", (4, 4)), "BMP"))
    struct.pack_into("<ii", bmp, 18, 60000, 60000)
    write("images/bomb_header.bmp", bytes(bmp))
    tif = bytearray(pil_bytes(Image.new("RGB", (4, 4)), "TIFF"))
    ifd = struct.unpack_from("<I", tif, 4)[0]
    for k in range(struct.unpack_from("<H", tif, ifd)[0]):
        e = ifd + 2 + 12 * k
        tag, typ = struct.unpack_from("<HH", tif, e)
        if tag in (256, 257):  # ImageWidth, ImageLength
            if typ == 3:
                struct.pack_into("<H", tif, e + 8, 60000)
            else:
                struct.pack_into("<I", tif, e + 8, 60000)
    write("images/bomb_dims.tif", bytes(tif))
    # odd but valid images (must load)
    write("images/one_pixel.png", pil_bytes(rgb_image(1, 1), "PNG"))
    write("images/line_20000x1.png", pil_bytes(rgb_image(20000, 1), "PNG"))
    write("images/gray16.png", pil_bytes(Image.fromarray(RNG.integers(0, 65536, size=(24, 24), dtype=np.uint16)), "PNG"))
    rgb16 = bytearray()
    for _ in range(8):
        rgb16 += b"\x00" + RNG.integers(0, 256, size=8 * 6, dtype=np.uint8).tobytes()
    write("images/rgb16.png", png_raw(8, 8, 16, 2, zlib.compress(bytes(rgb16))))
    write("images/gray.png", pil_bytes(good.convert("L"), "PNG"))
    write("images/palette.png", pil_bytes(good.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG"))
    write("images/rgba.png", pil_bytes(good.convert("RGBA"), "PNG"))
    write("images/gray_alpha.png", pil_bytes(good.convert("LA"), "PNG"))
    write("images/onebit.png", pil_bytes(good.convert("1"), "PNG"))
    write("images/interlaced.png", png_interlaced(good))
    write("images/cmyk.jpg", pil_bytes(good.convert("CMYK"), "JPEG"))
    write("images/gray.jpg", pil_bytes(good.convert("L"), "JPEG"))
    write("images/progressive.jpg", pil_bytes(good, "JPEG", progressive=True))
    frames = [rgb_image(16, 16).convert("P") for _ in range(3)]
    write("images/animated.gif", pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    write("images/image.bmp", pil_bytes(good, "BMP"))
    write("images/image.tif", pil_bytes(good, "TIFF"))
    write("images/image.webp", pil_bytes(good, "WEBP", lossless=True))
    return png


def png_interlaced(img):
    """Adam7 PNG (PIL cannot write interlaced PNGs): built from the pass scanlines."""
    a = np.asarray(img)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        sub = a[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.tobytes()
    h, w = a.shape[:2]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(bytes(raw))) + png_chunk(b"IEND", b"")


def tar_gz(members, mtime=0):
    """members: (name, bytes | ('symlink', target))."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            if isinstance(data, tuple):
                info.type = tarfile.SYMTYPE if data[0] == "symlink" else tarfile.LNKTYPE
                info.linkname = data[1]
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def archives(png):
    ok = [("test/a/0.png", png), ("train/a/0.png", png)]
    write("archives/dotdot.tar.gz", tar_gz(ok + [("test/../../hs-escape/b/0.png", png)]))
    write("archives/absolute.tar.gz", tar_gz(ok + [("/tmp/hs-absolute-escape/b/0.png", png)]))
    write("archives/links.tar.gz", tar_gz(ok + [("test/b/passwd.png", ("symlink", "/etc/passwd")), ("test/b/hard.png", ("hardlink", "/etc/passwd"))]))
    # gzip bomb: a 300 MB member (zeros) named like an image, ~300 kB compressed
    raw = tempfile.TemporaryFile()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in ok:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("test/b/bomb.png")
        info.size = 300 << 20
        t.addfile(info, ZeroReader(info.size))
    raw.seek(0)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as g:
        while True:
            chunk = raw.read(1 << 20)
            if not chunk:
                break
            g.write(chunk)
    write("archives/gzip_bomb.tar.gz", out.getvalue())
    # a member whose header declares 8 GiB, then the stream ends
    header = bytearray(tarfile.TarInfo("test/b/liar.png").tobuf(format=tarfile.GNU_FORMAT))
    header[124:136] = b"77777777777\x00"  # size field, octal: 8 GiB - 1
    header[148:156] = b"        "
    header[148:156] = ("%06o\x00 " % sum(header)).encode()
    body = b""
    for name, data in ok:  # members without the end-of-archive blocks
        info = tarfile.TarInfo(name)
        info.size = len(data)
        body += info.tobuf(format=tarfile.GNU_FORMAT) + data + bytes(-len(data) % 512)
    write("archives/lying_size.tar.gz", gzip.compress(body + bytes(header) + bytes(512), mtime=0))
    good = tar_gz(ok)
    write("archives/truncated.tar.gz", good[: len(good) // 2])
    write("archives/garbage.tar.gz", RNG.integers(0, 256, size=2048, dtype=np.uint8).tobytes())
    write("archives/zero.tar.gz", b"")
    write("archives/empty.tar.gz", tar_gz([]))


class ZeroReader:
    def __init__(self, n):
        self.left = n

    def read(self, size=-1):
        n = self.left if size < 0 else min(size, self.left)
        self.left -= n
        return bytes(n)


def safetensors(header, data=b"", header_len=None):
    text = json.dumps(header).encode()
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + data


def weights():
    t = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
    write("weights/header_2_63.safetensors", safetensors({"fc.weight": t}, bytes(16), header_len=1 << 63))
    write("weights/header_past_end.safetensors", safetensors({"fc.weight": t}, bytes(16), header_len=1 << 20))
    write("weights/header_not_json.safetensors", struct.pack("<Q", 12) + b"{not json!!}" + bytes(16))
    write("weights/offsets_past_end.safetensors", safetensors({"fc.weight": {"dtype": "F32", "shape": [1 << 20], "data_offsets": [0, 4 << 20]}}, bytes(16)))
    write(
        "weights/overlapping.safetensors",
        safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, bytes(24)),
    )
    write("weights/wrong_dtype_size.safetensors", safetensors({"fc.weight": {"dtype": "F32", "shape": [10], "data_offsets": [0, 20]}}, bytes(20)))
    write("weights/huge_shape.safetensors", safetensors({"fc.weight": {"dtype": "F32", "shape": [1 << 31, 1 << 31, 1 << 31], "data_offsets": [0, 16]}}, bytes(16)))
    write("weights/zero.safetensors", b"")
    write("weights/garbage.pt", RNG.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    write("weights/zero.pt", b"")
    write("weights/garbage.bpk", RNG.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    write("weights/zero.bpk", b"")

    # Pickles that run a shell command when unpickled by Python: `sh -c 'touch "$HS_MARKER"'`.
    class Evil:
        def __reduce__(self):
            return (os.system, ('touch "$HS_MARKER"',))

    raw = pickle.dumps({"conv1.weight": Evil()}, protocol=2)
    write("weights/evil_raw.pt", raw)
    import torch

    buf = io.BytesIO()
    torch.save({"conv1.weight": Evil(), "fc.bias": torch.zeros(10)}, buf)
    write("weights/evil_zip.pt", buf.getvalue())
    buf = io.BytesIO()
    torch.save({"state_dict": Evil()}, buf)
    write("weights/evil_state_dict.pt", buf.getvalue())
    # Prove the pickles are live: Python's own unpickler does run the command.
    for name in ["evil_raw.pt", "evil_zip.pt"]:
        with tempfile.TemporaryDirectory() as d:
            marker = os.path.join(d, "ran")
            code = (
                "import pickle,sys,zipfile,io\n"
                "b=open(sys.argv[1],'rb').read()\n"
                "if b[:2]==b'PK':\n"
                "    z=zipfile.ZipFile(io.BytesIO(b)); b=z.read([n for n in z.namelist() if n.endswith('data.pkl')][0])\n"
                "class U(pickle.Unpickler):\n"
                "    def persistent_load(self, pid): return None\n"
                "U(io.BytesIO(b)).load()\n"
            )
            subprocess.run([sys.executable, "-c", code, os.path.join(OUT, "weights", name)], env={**os.environ, "HS_MARKER": marker}, check=False, capture_output=True)
            assert os.path.exists(marker), f"{name} does not run its payload in Python"


def npy_header(descr, shape, fortran=False, version=1, pad_to=None):
    dims = ", ".join(str(d) for d in shape)
    text = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s%s), }" % (descr, fortran, dims, "," if len(shape) == 1 else "")
    fixed = 10 if version == 1 else 12
    while (fixed + len(text) + 1) % 64:
        text += " "
    text += "\n"
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(text) if pad_to is None else pad_to) + text.encode()


def npy(descr, shape, data, **kw):
    return npy_header(descr, shape, **kw) + data


def cifar10c():
    n = 1  # images per severity
    images = RNG.integers(0, 256, size=(5 * n, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(5 * n, dtype=np.uint8) % 10
    good_images = npy("|u1", images.shape, images.tobytes())
    good_labels = npy("|u1", labels.shape, labels.tobytes())

    def case(name, imgs=good_images, labs=good_labels):
        write(f"npy/{name}/gaussian_noise.npy", imgs)
        if labs is not None:
            write(f"npy/{name}/labels.npy", labs)

    case("good")
    case("wrong_rank", imgs=npy("|u1", (5 * n, 32, 96), images.tobytes()))
    case("float32", imgs=npy("<f4", images.shape, images.astype(np.float32).tobytes()))
    case("big_endian", imgs=npy(">u2", images.shape, images.astype(">u2").tobytes()))
    case("fortran", imgs=npy("|u1", images.shape, images.tobytes(), fortran=True))
    case("shape_lies", imgs=npy("|u1", (5_000_000, 32, 32, 3), images.tobytes()))
    case("shape_overflow", imgs=npy("|u1", (5 << 40, 1 << 40, 1 << 40, 3), images.tobytes()))
    case("truncated", imgs=good_images[: len(good_images) - 100])
    case("header_4gib", imgs=npy_header("|u1", images.shape, version=2, pad_to=0xFFFFFFF0) + images.tobytes())
    case("not_npy", imgs=b"PK\x03\x04 this is not numpy")
    case("zero", imgs=b"")
    case("no_labels", labs=None)
    case("labels_wrong_length", labs=npy("|u1", (7,), bytes(7)))
    case("labels_huge_value", labs=npy("<i8", (5 * n,), np.full(5 * n, 1 << 40, dtype="<i8").tobytes()))
    case("labels_float", labs=npy("<f8", (5 * n,), np.zeros(5 * n).tobytes()))


def main():
    os.makedirs(OUT, exist_ok=True)
    png = images()
    archives(png)
    weights()
    cifar10c()
    total = 0
    for d, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(d, f))
    print(f"wrote the hostile corpus to {OUT} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
