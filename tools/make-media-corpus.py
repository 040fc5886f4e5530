#!/usr/bin/env python3
"""make-media-corpus.py — generate the media test fixtures (tests/fixtures/media) and the image fuzz seeds
(tests/fuzz/corpus/image).

What it writes:
  valid/pattern.rgb            32x24 RGB reference pattern (12 flat colour blocks), made here with NumPy
  valid/pattern.{bmp,tiff,webp,gif,png}   the pattern encoded losslessly by the ffmpeg CLI (GIF: ≤ 256 colours,
                               so also exact) — decoded by Myna they must equal pattern.rgb exactly
  valid/pattern.jpg            the pattern as baseline JPEG (ffmpeg mjpeg), base of the hostile JPEGs
  video/ramp.{mp4,webm,avi,gif} 3 s, 10 fps, 64x48, frame N has luma 16 + 7·N (limited range, so
                               R=G=B ≈ 7·N·255/219 after conversion): the test recovers N from the pixels and
                               checks it against the timestamp
  video/seek.mp4               20 s, 5 fps, keyframe every 10 frames, same ramp with luma 16 + 2·N: exercises
                               seeking
  hostile/*  + hostile/MANIFEST  malformed / hostile inputs, one line each: "<file> <image|video> <expected>",
                               expected one of OK EBADMSG EFBIG EMEDIUMTYPE (tests/unit/test-image.c reads it)
Requires: numpy and the ffmpeg CLI (Debian package ffmpeg). Deterministic except for encoder versions.
Run from the repository root: python3 tools/make-media-corpus.py
"""
import os
import shutil
import struct
import subprocess
import zlib

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "tests", "fixtures", "media")
SEEDS = os.path.join(ROOT, "tests", "fuzz", "corpus", "image")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def pattern():
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255],
                        [255, 255, 255], [0, 0, 0], [128, 64, 32], [32, 128, 64], [64, 32, 128], [200, 200, 16]],
                       dtype=np.uint8)
    img = np.zeros((24, 32, 3), np.uint8)
    for by in range(3):
        for bx in range(4):
            img[by * 8:(by + 1) * 8, bx * 8:(bx + 1) * 8] = colours[by * 4 + bx]
    return img


# ---------------------------------------------------------------- PNG helpers
def chunk(typ, data, crc=None):
    c = zlib.crc32(typ + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + typ + data + struct.pack(">I", c)


SIG = b"\x89PNG\r\n\x1a\n"


def ihdr(w, h, depth=8, ctype=2, comp=0, filt=0, inter=0):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, comp, filt, inter))


def png(w, h, raw, ctype=2, depth=8, extra=b"", plte=None):
    out = SIG + ihdr(w, h, depth, ctype) + extra
    if plte is not None:
        out += chunk(b"PLTE", plte)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def hostile_pngs():
    w, h = 8, 4
    raw = b"".join(b"\x00" + bytes(range(3 * w)) for _ in range(h))
    good = png(w, h, raw)
    idat = zlib.compress(raw, 9)
    out = {}
    out["png-sig-only"] = (SIG, "EBADMSG")
    out["png-truncated-ihdr"] = (good[:20], "EBADMSG")
    out["png-ihdr-bad-crc"] = (SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0), crc=1) +
                               good[33:], "EBADMSG")
    out["png-width-zero"] = (SIG + ihdr(0, h) + good[33:], "EBADMSG")
    out["png-height-zero"] = (SIG + ihdr(w, 0) + good[33:], "EBADMSG")
    out["png-width-2p31"] = (SIG + ihdr(1 << 31, 1) + good[33:], "EBADMSG")
    # decompression bomb: 100000x100000 gray, IDAT of zeros (the first rows only; caps must reject early)
    bomb = zlib.compress(b"\x00" * (100001 * 64), 9)
    out["png-bomb-100000x100000"] = (SIG + ihdr(100000, 100000, 8, 0) + chunk(b"IDAT", bomb) +
                                     chunk(b"IEND", b""), "EFBIG")
    out["png-70000x70000"] = (SIG + ihdr(70000, 70000) + good[33:], "EFBIG")
    out["png-wide-20000x1"] = (SIG + ihdr(20000, 1) + good[33:], "EFBIG")
    out["png-8000x8000-over-pixels"] = (SIG + ihdr(8000, 8000, 1, 0) + good[33:], "EFBIG")
    out["png-bad-depth-3"] = (SIG + ihdr(w, h, 3, 2) + good[33:], "EBADMSG")
    out["png-bad-colour-type-5"] = (SIG + ihdr(w, h, 8, 5) + good[33:], "EBADMSG")
    out["png-rgb-depth-4"] = (SIG + ihdr(w, h, 4, 2) + good[33:], "EBADMSG")
    out["png-compression-1"] = (SIG + ihdr(w, h, comp=1) + good[33:], "EBADMSG")
    out["png-filter-method-1"] = (SIG + ihdr(w, h, filt=1) + good[33:], "EBADMSG")
    out["png-interlace-2"] = (SIG + ihdr(w, h, inter=2) + good[33:], "EBADMSG")
    out["png-ihdr-len-12"] = (SIG + chunk(b"IHDR", struct.pack(">IIBBBB", w, h, 8, 2, 0, 0)) + good[33:], "EBADMSG")
    out["png-ihdr-not-first"] = (SIG + chunk(b"gAMA", struct.pack(">I", 45455)) + good[8:], "EBADMSG")
    out["png-double-ihdr"] = (good[:33] + ihdr(w, h) + good[33:], "EBADMSG")
    praw = b"".join(b"\x00" + bytes([i % 4 for i in range(w)]) for _ in range(h))
    out["png-palette-missing-plte"] = (SIG + ihdr(w, h, 8, 3) + chunk(b"IDAT", zlib.compress(praw)) +
                                       chunk(b"IEND", b""), "EBADMSG")
    out["png-plte-len-not-3n"] = (png(w, h, praw, ctype=3, plte=bytes(10)), "EBADMSG")
    out["png-plte-300-entries"] = (png(w, h, praw, ctype=3, plte=bytes(900)), "EBADMSG")
    out["png-plte-empty"] = (png(w, h, praw, ctype=3, plte=b""), "EBADMSG")
    out["png-no-idat"] = (good[:33] + chunk(b"IEND", b""), "EBADMSG")
    out["png-idat-bad-crc"] = (good[:33] + chunk(b"IDAT", idat, crc=0) + chunk(b"IEND", b""), "EBADMSG")
    out["png-idat-bad-zlib-header"] = (good[:33] + chunk(b"IDAT", b"\x00\x00" + idat[2:]) + chunk(b"IEND", b""),
                                       "EBADMSG")
    out["png-idat-short"] = (good[:33] + chunk(b"IDAT", zlib.compress(raw[:len(raw) // 2])) + chunk(b"IEND", b""),
                             "EBADMSG")
    out["png-idat-cut-stream"] = (good[:33] + chunk(b"IDAT", idat[:len(idat) // 2]) + chunk(b"IEND", b""),
                                  "EBADMSG")
    bad_filter = b"".join(b"\x07" + bytes(3 * w) for _ in range(h))
    out["png-bad-filter-type"] = (png(w, h, bad_filter), "EBADMSG")
    out["png-truncated-mid-idat"] = (good[:45], "EBADMSG")
    out["png-truncated-before-iend"] = (good[:-12], "OK")  # all image data present: accepted
    out["png-chunk-len-ffffffff"] = (good[:33] + b"\xff\xff\xff\xffIDAT" + idat, "EBADMSG")
    out["png-garbage-after-sig"] = (SIG + bytes(range(256)) * 2, "EBADMSG")
    # ancillary trouble that must NOT fail the decode (bounded memory, bad CRC discarded)
    ztxt_bomb = b"Comment\x00\x00" + zlib.compress(b"A" * (64 << 20), 9)
    out["png-ztxt-bomb"] = (good[:33] + chunk(b"zTXt", ztxt_bomb) + good[33:], "OK")
    out["png-text-bad-crc"] = (good[:33] + chunk(b"tEXt", b"k\x00v", crc=7) + good[33:], "OK")
    out["png-trailing-garbage"] = (good + bytes(1000), "OK")
    return out


# ---------------------------------------------------------------- JPEG helpers
def jpeg_segments(data):
    """[(marker, payload)] up to and including SOS, then the entropy data + rest."""
    assert data[:2] == b"\xff\xd8"
    pos, segs = 2, []
    while True:
        assert data[pos] == 0xFF
        m = data[pos + 1]
        ln = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segs.append((m, data[pos + 4:pos + 2 + ln]))
        pos += 2 + ln
        if m == 0xDA:
            return segs, data[pos:]


def jpeg_build(segs, tail):
    out = b"\xff\xd8"
    for m, p in segs:
        out += bytes([0xFF, m]) + struct.pack(">H", len(p) + 2) + p
    return out + tail


def sof_patch(segs, fn):
    return [(m, fn(p) if m in (0xC0, 0xC1, 0xC2) else p) for m, p in segs]


def exif_app1(orientation=None, raw_ifd=None):
    if raw_ifd is None:
        entry = struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
        raw_ifd = struct.pack("<H", 1) + entry + struct.pack("<I", 0)
    return (0xE1, b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + raw_ifd)


def hostile_jpegs(base):
    segs, tail = jpeg_segments(base)
    out = {}
    n = len(base)
    out["jpeg-soi-only"] = (b"\xff\xd8\xff", "EBADMSG")
    out["jpeg-soi-eoi"] = (b"\xff\xd8\xff\xd9", "EBADMSG")
    for pct in (5, 25, 50, 75, 90, 99):
        out["jpeg-truncated-%02d" % pct] = (base[:n * pct // 100], "EBADMSG")
    out["jpeg-no-eoi"] = (base[:-2], "EBADMSG")

    def dims(w, h):
        return lambda p: p[:1] + struct.pack(">HH", h, w) + p[5:]
    out["jpeg-width-zero"] = (jpeg_build(sof_patch(segs, dims(0, 24)), tail), "EBADMSG")
    out["jpeg-height-zero"] = (jpeg_build(sof_patch(segs, dims(32, 0)), tail), "EBADMSG")
    out["jpeg-65535x65535"] = (jpeg_build(sof_patch(segs, dims(65535, 65535)), tail), "EFBIG")
    out["jpeg-10000x10000"] = (jpeg_build(sof_patch(segs, dims(10000, 10000)), tail), "EFBIG")
    out["jpeg-precision-12"] = (jpeg_build(sof_patch(segs, lambda p: b"\x0c" + p[1:]), tail), "EBADMSG")
    out["jpeg-precision-7"] = (jpeg_build(sof_patch(segs, lambda p: b"\x07" + p[1:]), tail), "EBADMSG")
    out["jpeg-zero-components"] = (jpeg_build(sof_patch(segs, lambda p: p[:5] + b"\x00"), tail), "EBADMSG")
    out["jpeg-sampling-zero"] = (jpeg_build(sof_patch(segs, lambda p: p[:7] + b"\x00" + p[8:]), tail), "EBADMSG")
    out["jpeg-sampling-5x5"] = (jpeg_build(sof_patch(segs, lambda p: p[:7] + b"\x55" + p[8:]), tail), "EBADMSG")
    out["jpeg-sof-quant-table-9"] = (jpeg_build(sof_patch(segs, lambda p: p[:8] + b"\x09" + p[9:]), tail),
                                     "EBADMSG")
    out["jpeg-no-sof"] = (jpeg_build([s for s in segs if s[0] != 0xC0], tail), "EBADMSG")
    out["jpeg-double-sof"] = (jpeg_build([s for s in segs if s[0] == 0xC0] + segs, tail), "EBADMSG")
    out["jpeg-no-dht"] = (jpeg_build([s for s in segs if s[0] != 0xC4], tail), "EBADMSG")
    out["jpeg-no-dqt"] = (jpeg_build([s for s in segs if s[0] != 0xDB], tail), "EBADMSG")
    out["jpeg-dqt-index-7"] = (jpeg_build([(m, b"\x07" + p[1:] if m == 0xDB else p) for m, p in segs], tail),
                               "EBADMSG")
    # Huffman table whose code counts sum past 256
    bogus = b"\x00" + bytes([255] * 16) + bytes(200)
    out["jpeg-dht-bogus-counts"] = (jpeg_build([(m, bogus if m == 0xC4 else p) for m, p in segs], tail), "EBADMSG")
    out["jpeg-dht-class-2"] = (jpeg_build([(m, b"\x20" + p[1:] if m == 0xC4 else p) for m, p in segs], tail),
                               "EBADMSG")
    # Huffman table with every code length-16 zero but symbols present: incomplete/invalid tables
    out["jpeg-dht-empty"] = (jpeg_build([(m, b"\x00" + bytes(16) if m == 0xC4 else p) for m, p in segs], tail),
                             "EBADMSG")
    out["jpeg-sos-bad-component"] = (jpeg_build([(m, p[:1] + b"\x09" + p[2:] if m == 0xDA else p)
                                                 for m, p in segs], tail), "EBADMSG")
    out["jpeg-sos-zero-components"] = (jpeg_build([(m, b"\x00" + p[1:] if m == 0xDA else p) for m, p in segs], tail),
                                       "EBADMSG")
    out["jpeg-sos-bad-spectral"] = (jpeg_build([(m, p[:-3] + b"\x05\x3f\x00" if m == 0xDA else p)
                                                for m, p in segs], tail), "EBADMSG")
    out["jpeg-segment-len-0"] = (base[:2] + b"\xff\xe0\x00\x00" + base[2:], "EBADMSG")
    out["jpeg-segment-len-1"] = (base[:2] + b"\xff\xfe\x00\x01" + base[2:], "EBADMSG")
    out["jpeg-app-past-eof"] = (base[:2] + b"\xff\xe2\xff\xf0" + b"x" * 40, "EBADMSG")
    # restart interval 1 but no RSTn in the data: libjpeg-turbo decodes it without a warning (accepted)
    out["jpeg-dri-without-rst"] = (jpeg_build([(0xDD, struct.pack(">H", 1))] + segs, tail), "OK")
    rng = np.random.default_rng(1)
    noise = bytes(rng.integers(0, 255, len(tail) - 2, dtype=np.uint8).tobytes()).replace(b"\xff", b"\xfe")
    out["jpeg-entropy-noise"] = (jpeg_build(segs, noise + b"\xff\xd9"), "EBADMSG")
    out["jpeg-zeros-after-soi"] = (b"\xff\xd8\xff" + bytes(500), "EBADMSG")
    # scan bomb: 300 SOS segments (each with a little entropy data) → over the 256-scan cap
    sos = [p for m, p in segs if m == 0xDA][0]
    bomb = jpeg_build(segs[:-1], b"") + (b"\xff\xda" + struct.pack(">H", len(sos) + 2) + sos + b"\x00") * 300 + \
        b"\xff\xd9"
    out["jpeg-scan-bomb-300"] = (bomb, "EFBIG")
    # EXIF with hostile offsets: ignored (orientation 1), the image still decodes
    out["jpeg-exif-bad-ifd-offset"] = (jpeg_build([(0xE1, b"Exif\x00\x00II*\x00\xff\xff\xff\x7f")] + segs, tail),
                                       "OK")
    out["jpeg-exif-huge-count"] = (jpeg_build([exif_app1(raw_ifd=b"\xff\xff" + bytes(12))] + segs, tail), "OK")
    out["jpeg-exif-orientation-99"] = (jpeg_build([exif_app1(99)] + segs, tail), "OK")
    out["jpeg-exif-truncated"] = (jpeg_build([(0xE1, b"Exif\x00\x00MM\x00*")] + segs, tail), "OK")
    out["jpeg-extraneous-bytes"] = (jpeg_build(segs[:-1], b"") + b"\x00\x00" + jpeg_build([segs[-1]], tail)[2:],
                                    "OK")
    return out


def other_hostile(valid):
    out = {}
    gif = valid["gif"]
    out["gif-truncated-header"] = (gif[:9], "EBADMSG")
    out["gif-zero-size"] = (gif[:6] + b"\x00\x00\x00\x00" + gif[10:], "EBADMSG")
    out["gif-65535x65535"] = (gif[:6] + b"\xff\xff\xff\xff" + gif[10:], "EFBIG")
    out["gif-truncated-data"] = (gif[:len(gif) // 2], "EBADMSG")
    out["gif-garbage"] = (b"GIF89a" + bytes(range(200)), "EBADMSG")
    bmp = valid["bmp"]
    out["bmp-bad-header"] = (b"BM" + bytes(60), "EBADMSG")
    out["bmp-huge-dims"] = (bmp[:18] + struct.pack("<ii", 60000, 60000) + bmp[26:], "EFBIG")
    out["bmp-negative-width"] = (bmp[:18] + struct.pack("<i", -32) + bmp[22:], "EBADMSG")
    out["bmp-truncated"] = (bmp[:80], "EBADMSG")
    out["bmp-bpp-7"] = (bmp[:28] + struct.pack("<H", 7) + bmp[30:], "EBADMSG")
    webp = valid["webp"]
    out["webp-bad-chunk"] = (webp[:12] + b"XXXX" + webp[16:], "EBADMSG")
    out["webp-truncated"] = (webp[:30], "EBADMSG")
    out["webp-garbage"] = (webp[:16] + bytes(range(100)), "EBADMSG")
    tiff = valid["tiff"]
    out["tiff-bad-ifd-offset"] = (tiff[:4] + struct.pack("<I", 0x7ffffff0) + tiff[8:], "EBADMSG")
    out["tiff-truncated"] = (tiff[:40], "EBADMSG")
    out["text-hls-playlist"] = (b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:///etc/passwd\n"
                                b"#EXT-X-ENDLIST\n", "EMEDIUMTYPE")
    out["text-ffconcat"] = (b"ffconcat version 1.0\nfile '/etc/passwd'\nfile 'file:///etc/shadow'\n", "EMEDIUMTYPE")
    out["text-file-url"] = (b"file:///etc/passwd", "EMEDIUMTYPE")
    out["empty"] = (b"", "EMEDIUMTYPE")
    return out


def hostile_videos(mp4, webm, avi):
    out = {}
    out["mp4-truncated-2k"] = (mp4[:2048], "EBADMSG")
    out["mp4-ftyp-only"] = (mp4[:32], "EBADMSG")
    out["mkv-ebml-garbage"] = (webm[:4] + bytes(range(256)) * 4, "EBADMSG")
    out["avi-riff-garbage"] = (avi[:12] + bytes(500), "EBADMSG")
    out["avi-hls-inside"] = (avi[:12] + b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n", "EBADMSG")
    i = mp4.find(b"avc1", mp4.find(b"stsd"))  # the sample entry, not the ftyp brand
    if i > 0:
        big = mp4[:i + 28] + struct.pack(">HH", 60000, 60000) + mp4[i + 32:]
        out["mp4-avc1-60000x60000"] = (big, "EFBIG")
    i = avi.find(b"strf")
    if i > 0:  # BITMAPINFOHEADER: size(4) then width, height
        out["avi-strf-60000x60000"] = (avi[:i + 12] + struct.pack("<ii", 60000, 60000) + avi[i + 20:], "EFBIG")
    # MP4 whose data reference points at a local file: must not be opened (drefs off, io_open refused)
    dref_url = b"file:///etc/passwd\x00"
    url_box = struct.pack(">I", 12 + len(dref_url)) + b"url " + b"\x00\x00\x00\x00" + dref_url
    dref = struct.pack(">I", 16 + len(url_box)) + b"dref" + b"\x00\x00\x00\x00" + struct.pack(">I", 1) + url_box
    j = mp4.find(b"dref")
    if j > 0:
        old_len = struct.unpack(">I", mp4[j - 4:j])[0]
        patched = bytearray(mp4[:j - 4] + dref + mp4[j - 4 + old_len:])
        delta = len(dref) - old_len
        for parent in (b"moov", b"trak", b"mdia", b"minf", b"dinf"):  # keep the box tree consistent
            k = bytes(patched).rfind(parent, 0, j) - 4
            patched[k:k + 4] = struct.pack(">I", struct.unpack(">I", patched[k:k + 4])[0] + delta)
        # accepted: FFmpeg's mov demuxer ignores external references (enable_drefs off) and our io_open
        # refuses every open, so the samples come from this file's own mdat
        out["mp4-dref-file-url"] = (bytes(patched), "OK")
    out["image-as-video"] = (None, "EMEDIUMTYPE")  # filled by the caller
    return out


def main():
    if not shutil.which("ffmpeg"):
        raise SystemExit("make-media-corpus: needs the ffmpeg CLI (apt-get install ffmpeg)")
    for d in ("valid", "video", "hostile"):
        shutil.rmtree(os.path.join(FIX, d), ignore_errors=True)
        os.makedirs(os.path.join(FIX, d))
    os.makedirs(SEEDS, exist_ok=True)
    valid_dir = os.path.join(FIX, "valid")
    rgb = os.path.join(valid_dir, "pattern.rgb")
    pattern().tofile(rgb)
    raw_in = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "32x24", "-i", rgb]
    ffmpeg(*raw_in, os.path.join(valid_dir, "pattern.bmp"))
    ffmpeg(*raw_in, "-compression_algo", "raw", os.path.join(valid_dir, "pattern.tiff"))
    ffmpeg(*raw_in, "-c:v", "libwebp", "-lossless", "1", os.path.join(valid_dir, "pattern.webp"))
    ffmpeg(*raw_in, "-vf", "split[a][b];[a]palettegen=reserve_transparent=0[p];[b][p]paletteuse=dither=none",
           os.path.join(valid_dir, "pattern.gif"))
    ffmpeg(*raw_in, os.path.join(valid_dir, "pattern.png"))
    ffmpeg(*raw_in, "-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p", "-frames:v", "1",
           os.path.join(valid_dir, "pattern.jpg"))
    valid = {ext: open(os.path.join(valid_dir, "pattern." + ext), "rb").read()
             for ext in ("bmp", "tiff", "webp", "gif", "png", "jpg")}

    vdir = os.path.join(FIX, "video")
    ramp = ["-f", "lavfi", "-i", "nullsrc=s=64x48:r=10:d=3,format=yuv420p,geq=lum='16+7*N':cb=128:cr=128"]
    ffmpeg(*ramp, "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p", os.path.join(vdir, "ramp.mp4"))
    ffmpeg(*ramp, "-c:v", "libvpx-vp9", "-crf", "10", "-b:v", "0", os.path.join(vdir, "ramp.webm"))
    ffmpeg(*ramp, "-c:v", "mjpeg", "-q:v", "2", "-color_range", "tv", os.path.join(vdir, "ramp.avi"))
    ffmpeg(*ramp, "-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse", os.path.join(vdir, "ramp.gif"))
    seek = ["-f", "lavfi", "-i", "nullsrc=s=64x48:r=5:d=20,format=yuv420p,geq=lum='16+2*N':cb=128:cr=128"]
    ffmpeg(*seek, "-c:v", "libx264", "-crf", "10", "-g", "10", "-keyint_min", "10", "-sc_threshold", "0",
           "-pix_fmt", "yuv420p", os.path.join(vdir, "seek.mp4"))
    vids = {ext: open(os.path.join(vdir, "ramp." + ext), "rb").read() for ext in ("mp4", "webm", "avi")}

    hdir = os.path.join(FIX, "hostile")
    lines = []
    cases = {}
    cases.update({k: (v, "image", e) for k, (v, e) in hostile_pngs().items()})
    cases.update({k: (v, "image", e) for k, (v, e) in hostile_jpegs(valid["jpg"]).items()})
    cases.update({k: (v, "image", e) for k, (v, e) in other_hostile(valid).items()})
    hv = hostile_videos(vids["mp4"], vids["webm"], vids["avi"])
    hv["image-as-video"] = (valid["png"], "EMEDIUMTYPE")
    cases.update({k: (v, "video", e) for k, (v, e) in hv.items()})
    cases["text-hls-as-video"] = (cases["text-hls-playlist"][0], "video", "EMEDIUMTYPE")
    cases["text-ffconcat-as-video"] = (cases["text-ffconcat"][0], "video", "EMEDIUMTYPE")
    for name in sorted(cases):
        data, kind, expect = cases[name]
        with open(os.path.join(hdir, name), "wb") as f:
            f.write(data)
        lines.append("%s %s %s" % (name, kind, expect))
    with open(os.path.join(hdir, "MANIFEST"), "w") as f:
        f.write("# file kind expected — generated by tools/make-media-corpus.py; read by tests/unit/test-image.c\n")
        f.write("\n".join(lines) + "\n")

    # fuzz seeds: the small valid images plus the image-kind hostile inputs under 64 KiB
    for f in os.listdir(SEEDS):
        os.unlink(os.path.join(SEEDS, f))
    for ext, data in valid.items():
        open(os.path.join(SEEDS, "valid." + ext), "wb").write(data)
    for name, (data, kind, _) in cases.items():
        if kind == "image" and len(data) <= 65536:
            open(os.path.join(SEEDS, name), "wb").write(data)
    open(os.path.join(SEEDS, "video-ramp.avi"), "wb").write(vids["avi"][:65536])
    print("make-media-corpus: %d hostile cases" % len(cases))


if __name__ == "__main__":
    main()
