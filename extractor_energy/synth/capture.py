"""Captures like users make them (real_layouts.md section 1), with the fields they hide.

``photo``: the printed bill on a busy background, perspective, curl, light/shadow/colour cast,
fingers and objects over it, pen marks, folds, partial framing, blur, noise, WhatsApp-class
recompression, sometimes turned in the pixels or stored sideways with an EXIF orientation tag.
``screenshot``: a phone screen (status bar, browser / PDF viewer / utility app chrome, page pill,
floating button) showing page 1 and the top of page 2, sometimes scrolled. ``scan``: a flatbed or
scanner-app (CamScanner-like) output. ``mix`` draws one of these per bill with the shares seen
in real bills. Every mode is deterministic per seed.

A field is *hidden* when no drawn occurrence of it keeps at least ``VISIBLE_SHARE`` of its box
inside the frame and uncovered; :func:`hide` turns those into null (false for flags; list entries
are dropped) and the writer lists them under ``"hidden"``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from extractor_energy.synth import scene
from extractor_energy.synth.bill import SyntheticBill
from extractor_energy.synth.boxes import VISIBLE_SHARE, FieldBox, Mapper, locate, turn_boxes
from extractor_energy.synth.canvas import DrawnField, font
from extractor_energy.synth.raster import render_page

MODES = ("none", "scan", "photo", "screenshot", "mix")
#: Shares of capture kinds over 145 real bills (photo 68 %, screenshot 15 %, scanner app 8 %, clean 6 %;
#: the 3 % non-bills are left to negative samples).
MIX_SHARES = {"photo": 0.70, "screenshot": 0.155, "scan": 0.083, "none": 0.062}
#: Share of rolls among photographed bills (61 of 98 photos).
ROLL_SHARE_PHOTO = 0.62

Rng = np.random.Generator


@dataclass
class Capture:
    """What the user sends: the image (upright), the EXIF orientation to store it with, the hidden fields
    and the boxes of the drawn values it shows (``image`` pixels: what a reader honouring the tag sees)."""

    image: Image.Image
    mode: str
    hidden: list[str] = field(default_factory=list)  # contract paths: "valor_fatura", "consumo_lista.3"
    orientation: int = 1  # EXIF orientation tag to write (6/8/3); the writer turns the pixels to match
    rgba: bool = False  # phone screenshots are often RGBA PNGs
    boxes: list[FieldBox] = field(default_factory=list)  # visible drawn values, in pixels of ``image``


def pick_mode(mode: str, seed: int) -> str:
    """The capture kind of one bill: ``mode`` itself, or a draw from :data:`MIX_SHARES` for ``mix``."""
    if mode != "mix":
        return mode
    rng = np.random.default_rng([seed, 77])
    return str(rng.choice(list(MIX_SHARES), p=list(MIX_SHARES.values())))


def pick_physical(mode: str, seed: int, fmt: str = "jpg") -> str:
    """``roll`` or ``a4`` for a bill captured as ``mode`` (PDFs, screenshots, scans and clean renders are A4)."""
    if fmt == "pdf" or mode != "photo":
        return "a4"
    return "roll" if np.random.default_rng([seed, 78]).random() < ROLL_SHARE_PHOTO else "a4"


# ------------------------------------------------------------------------------------------ visibility
def _hidden(fields: list[DrawnField], mapper: Mapper, visible: np.ndarray, pages: tuple[int, ...] = (0,)) -> list[str]:
    """Contract paths none of whose drawn occurrences stays visible; ``mapper(page, x, y)`` -> output (x, y)."""
    return locate(fields, mapper, visible, pages)[0]


def hide(data: dict, hidden: list[str]) -> dict:
    """The annotation with the hidden fields removed: null, false for flags, list entries dropped."""
    out = dict(data)
    drop: dict[str, set[int]] = {}
    for path in hidden:
        if "." in path:
            name, index = path.split(".")
            drop.setdefault(name, set()).add(int(index))
        elif isinstance(out.get(path), bool):
            out[path] = False
        elif isinstance(out.get(path), list):
            out[path] = []
        else:
            out[path] = None
    for name, indexes in drop.items():
        out[name] = [item for i, item in enumerate(out[name]) if i not in indexes]
    # a flag whose own mark is hidden is still shown by a visible value that implies it
    implied = {"faturas_venc": bool(out.get("valores_em_aberto")),
               "alta_tensao": str(out.get("subgrupo") or "").startswith("A"),
               "ths_verde": out.get("modalidade") == "verde" and bool(out.get("subgrupo")),
               "tarifa_branca": out.get("modalidade") == "branca",
               "orgao_publico": out.get("classificacao") == "PODER PUBLICO"}
    for flag, shown in implied.items():
        if shown and data.get(flag):
            out[flag] = True
    return out


# ------------------------------------------------------------------------------------------ geometry
def _homography(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> np.ndarray:
    """3x3 matrix mapping the four ``src`` points onto ``dst``."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    sol = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    return np.append(sol, 1.0).reshape(3, 3)


def _apply(m: np.ndarray, x: np.ndarray | float, y: np.ndarray | float) -> tuple:
    d = m[2, 0] * x + m[2, 1] * y + m[2, 2]
    return (m[0, 0] * x + m[0, 1] * y + m[0, 2]) / d, (m[1, 0] * x + m[1, 1] * y + m[1, 2]) / d


@dataclass
class _Warp:
    """Page pixels -> photo pixels: a homography plus a curl (paper bulge) displacement along y."""

    fwd: np.ndarray
    amp: float  # curl amplitude in output pixels
    page_w: float

    def forward(self, x: float, y: float) -> tuple[float, float]:
        u, v = _apply(self.fwd, x, y)
        return u, v + self.amp * math.sin(math.pi * x / self.page_w)

    def mesh(self, size: tuple[int, int], step: int = 64) -> list:
        """PIL MESH data (output cell -> source quad), inverting the curl with one fixed-point step."""
        inv = np.linalg.inv(self.fwd)
        w, h = size
        xs = np.arange(0, w + step, step, dtype=np.float64)
        ys = np.arange(0, h + step, step, dtype=np.float64)
        gx, gy = np.meshgrid(xs, ys)
        px, _ = _apply(inv, gx, gy)
        px, py = _apply(inv, gx, gy - self.amp * np.sin(np.pi * px / self.page_w))
        data = []
        for j in range(len(ys) - 1):
            for i in range(len(xs) - 1):
                quad = (px[j, i], py[j, i], px[j + 1, i], py[j + 1, i], px[j + 1, i + 1], py[j + 1, i + 1],
                        px[j, i + 1], py[j, i + 1])
                data.append(((int(xs[i]), int(ys[j]), int(xs[i + 1]), int(ys[j + 1])), quad))
        return data


_FRAMINGS = {"whole": 0.64, "header": 0.12, "slip": 0.06, "side": 0.1, "top_cut": 0.08}


def _framing(rng: Rng) -> tuple[str, tuple[float, float, float, float]]:
    """Which part of the page the user framed, in page fractions (about 1/3 of photos cut something)."""
    kind = str(rng.choice(list(_FRAMINGS), p=list(_FRAMINGS.values())))
    if kind == "header":
        return kind, (0.0, 0.0, 1.0, rng.uniform(0.3, 0.55))
    if kind == "slip":
        return kind, (0.0, rng.uniform(0.45, 0.7), 1.0, 1.0)
    if kind == "side":
        return kind, ((rng.uniform(0.1, 0.3), 0.0, 1.0, 1.0) if rng.random() < 0.5 else (0.0, 0.0, rng.uniform(0.7, 0.9), 1.0))
    if kind == "top_cut":
        return kind, (0.0, rng.uniform(0.08, 0.2), 1.0, 1.0)
    return kind, (0.0, 0.0, 1.0, 1.0)


# ------------------------------------------------------------------------------------------ pixel effects
def _grain(image: Image.Image, rng: Rng, sigma: float) -> Image.Image:
    """Sensor noise: seeded grey grain at half resolution, added to all channels."""
    w, h = image.size
    small = rng.normal(128.0, sigma, (max(1, h // 2), max(1, w // 2))).clip(0, 255).astype(np.uint8)
    noise = Image.fromarray(small).resize(image.size, Image.BILINEAR).convert("RGB")
    return ImageChops.add(image, noise, scale=1.0, offset=-128)


def _recompress(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


# ------------------------------------------------------------------------------------------ modes
def photo(bill: SyntheticBill, rng: Rng) -> Capture:
    """A phone photo of the printed bill (see the module docstring)."""
    page = bill.image.copy()
    pw, ph = page.size
    if rng.random() < 0.16:
        scene.crease(page, rng, int(rng.integers(1, 4)))
    if rng.random() < 0.17:
        scene.pen_marks(page, rng)
    long_side = int(rng.choice([1600, 1600, 1280, 1920]))
    W, H = round(long_side * (0.75 if rng.random() < 0.8 else 0.5625)), long_side
    kind, (fx0, fy0, fx1, fy1) = _framing(rng)
    small = kind == "whole" and rng.random() < 0.06
    margin = rng.uniform(0.18, 0.3) if small else rng.uniform(0.03, 0.12) if kind == "whole" else rng.uniform(-0.04, 0.02)
    rw, rh = (fx1 - fx0) * pw, (fy1 - fy0) * ph
    scale = min(W * (1 - 2 * margin) / rw, H * (1 - 2 * margin) / rh)
    ox, oy = (W - rw * scale) / 2 - fx0 * pw * scale, (H - rh * scale) / 2 - fy0 * ph * scale
    oblique = rng.random() < 0.1
    tilt = math.radians(rng.uniform(-6, 6))
    jitter = 0.08 if oblique else 0.035
    cx, cy = W / 2, H / 2
    dst = []
    for x, y in ((0, 0), (pw, 0), (pw, ph), (0, ph)):
        u, v = ox + x * scale, oy + y * scale
        u, v = cx + (u - cx) * math.cos(tilt) - (v - cy) * math.sin(tilt), cy + (u - cx) * math.sin(tilt) + (v - cy) * math.cos(tilt)
        dst.append((u + rng.uniform(-jitter, jitter) * W, v + rng.uniform(-jitter, jitter) * H))
    warp = _Warp(_homography([(0, 0), (pw, 0), (pw, ph), (0, ph)], dst),
                 float(rng.uniform(0.004, 0.02) * H * rng.choice([-1, 1])) if rng.random() < 0.5 else 0.0, float(pw))
    if warp.amp:
        method, data = Image.MESH, warp.mesh((W, H))
    else:  # flat paper: one projective transform is cheaper than a mesh
        method, data = Image.PERSPECTIVE, (np.linalg.inv(warp.fwd) / np.linalg.inv(warp.fwd)[2, 2]).flatten()[:8].tolist()
    paper = page.transform((W, H), method, data, Image.BILINEAR, fillcolor=(0, 0, 0))
    alpha = Image.new("L", (pw, ph), 255).transform((W, H), method, data, Image.BILINEAR, fillcolor=0)
    out = scene.background((W, H), rng)
    shadow = alpha.filter(ImageFilter.BoxBlur(6)).point(lambda v: v * 0.35)
    out.paste((20, 20, 20), (int(rng.integers(2, 9)), int(rng.integers(2, 9))), shadow)
    out.paste(paper, (0, 0), alpha)
    visible = Image.new("L", (W, H), 255)
    draw, mask_draw = ImageDraw.Draw(out), ImageDraw.Draw(visible)
    if rng.random() < 0.19:
        scene.receipt(draw, mask_draw, (W, H), rng)
    if rng.random() < 0.17:
        scene.finger(draw, mask_draw, (W, H), rng)
    if rng.random() < 0.03:
        scene.camera_stamp(draw, mask_draw, (W, H), rng)
    out = ImageChops.multiply(out, scene.light_map((W, H), rng, night=rng.random() < 0.05))
    if rng.random() < 0.05:
        before = out
        out = scene.glare(out, rng)
        washed = ImageChops.difference(before, out).convert("L").point(lambda v: 0 if v > 60 else 255)
        visible = ImageChops.darker(visible, washed)
    defocus = rng.random() < 0.03
    blur = ImageFilter.GaussianBlur(rng.uniform(2.0, 3.2)) if defocus else ImageFilter.BoxBlur(rng.uniform(0.3, 0.9))
    out = _grain(out.filter(blur), rng, float(rng.uniform(3, 8)))
    out = _recompress(out, int(rng.integers(50, 86)))
    hidden, boxes = locate(bill.fields, lambda _p, x, y: warp.forward(x, y), np.asarray(visible))
    turn = rng.random()
    orientation = 1
    if turn < 0.06:  # turned in the pixels: no tag can fix it
        pixels = Image.Transpose.ROTATE_90 if turn < 0.05 else Image.Transpose.ROTATE_180
        out, boxes = out.transpose(pixels), turn_boxes(boxes, out.size, pixels)
    elif turn < 0.36:  # stored sideways with an EXIF tag: upright for a reader that honours it
        orientation = 6 if turn < 0.34 else int(rng.choice([3, 8]))
    return Capture(out, "photo", hidden, orientation, boxes=boxes)


_APPS = ("browser", "viewer", "app")


def screenshot(bill: SyntheticBill, rng: Rng) -> Capture:
    """A phone screenshot of the PDF: status bar, app chrome, page 1 and the top of page 2."""
    W, H = [(1080, 2400), (1080, 2340), (720, 1600)][int(rng.choice(3, p=[0.6, 0.25, 0.15]))]
    k = W / 1080
    out = Image.new("RGB", (W, H), (235, 235, 238) if rng.random() < 0.6 else (50, 50, 54))
    draw = ImageDraw.Draw(out)
    bar_h = round(70 * k)
    app = str(rng.choice(_APPS))
    chrome_h = round({"browser": 150, "viewer": 140, "app": 190}[app] * k)
    top, bottom = bar_h + chrome_h, H - round((130 if rng.random() < 0.7 else 0) * k)
    margin = round(rng.uniform(0, 28) * k)
    s = (W - 2 * margin) / bill.image.width
    pages = [bill.image] + [render_page(p, bill.dpi) for p in bill.pages[1:2]]
    scroll = 0 if rng.random() < 0.75 else int(rng.uniform(0.05, 0.35) * bill.image.height * s)
    gap = round(24 * k)
    offsets, y = [], top - scroll
    for img in pages:
        offsets.append(y)
        scaled = img.resize((W - 2 * margin, round(img.height * s)), Image.BILINEAR)
        out.paste(scaled, (margin, y))
        y += scaled.height + gap
    visible = Image.new("L", (W, H), 255)
    mask_draw = ImageDraw.Draw(visible)
    # chrome over the content: status bar, app bar, bottom navigation, floating button, page pill
    ink, paper = ((20, 20, 20), (250, 250, 250)) if rng.random() < 0.7 else ((240, 240, 240), (32, 33, 36))
    draw.rectangle((0, 0, W, top), fill=paper)
    mask_draw.rectangle((0, 0, W, top), fill=0)
    small, mid = font(True, 30 * k), font(False, 34 * k)
    draw.text((40 * k, 18 * k), f"{int(rng.integers(7, 23)):02d}:{int(rng.integers(0, 60)):02d}", fill=ink, font=small)
    draw.text((W - 190 * k, 18 * k), f"4G  {int(rng.integers(8, 100))}%", fill=ink, font=small)
    name = f"fatura_{bill.data.num_instalacao}.pdf"
    if app == "browser":
        url = str(rng.choice([f"chrome-native://pdf/{name}", "acrobat.adobe.com/link/file", bill.content.identity.site
                              if bill.content else "www.agenciavirtual.com.br"]))
        draw.rounded_rectangle((30 * k, bar_h + 30 * k, W - 30 * k, bar_h + 115 * k), radius=40 * k, fill=(225, 225, 228))
        draw.text((70 * k, bar_h + 50 * k), url[:42], fill=(60, 60, 60), font=mid)
    elif app == "viewer":
        draw.text((40 * k, bar_h + 45 * k), "← " + name[:30], fill=ink, font=mid)
    else:
        draw.text((40 * k, bar_h + 40 * k), "← Segunda via", fill=ink, font=font(True, 40 * k))
        draw.text((40 * k, bar_h + 110 * k), "Salvar    Compartilhar", fill=(0, 110, 200), font=mid)
    if bottom < H:
        draw.rectangle((0, bottom, W, H), fill=paper)
        mask_draw.rectangle((0, bottom, W, H), fill=0)
    if rng.random() < 0.6:  # page pill and floating edit/AI button
        pill = (W / 2 - 60 * k, top + 40 * k, W / 2 + 60 * k, top + 100 * k)
        draw.rounded_rectangle(pill, radius=30 * k, fill=(60, 60, 60))
        draw.text((pill[0] + 30 * k, pill[1] + 12 * k), f"1/{len(bill.pages)}", fill=(255, 255, 255), font=small)
        mask_draw.rounded_rectangle(pill, radius=30 * k, fill=0)
    if rng.random() < 0.5:
        r = 75 * k
        fab = (W - 60 * k - 2 * r, bottom - 60 * k - 2 * r, W - 60 * k, bottom - 60 * k)
        draw.ellipse(fab, fill=(30, 100, 220))
        mask_draw.ellipse(fab, fill=0)

    def mapper(page: int, x: float, y: float) -> tuple[float, float]:
        return margin + x * s, offsets[page] + y * s

    hidden, boxes = locate(bill.fields, mapper, np.asarray(visible), pages=tuple(range(len(pages))))
    return Capture(out, "screenshot", hidden, rgba=bool(rng.random() < 0.4), boxes=boxes)


def scan(bill: SyntheticBill, rng: Rng) -> Capture:
    """A flatbed scan (slight skew, grey paper, noise) or a scanner-app export (contrast boosted, watermark)."""
    image = bill.image
    w, h = image.size
    angle = float(rng.uniform(-1.2, 1.2))
    app = rng.random() < 0.6
    paper = 255 if app else int(rng.integers(236, 248))
    out = image.rotate(angle, resample=Image.BILINEAR, expand=False, fillcolor=(paper, paper, paper))
    if app:
        out = ImageOps.autocontrast(out.convert("L") if rng.random() < 0.4 else out, cutoff=2).convert("RGB")
    else:
        out = out.point(lambda v: round(v * paper / 255))
    out = _grain(out.filter(ImageFilter.BoxBlur(float(rng.uniform(0.3, 0.6)))), rng, float(rng.uniform(2, 6)))
    visible = Image.new("L", (w, h), 255)
    if app and rng.random() < 0.7:
        draw, text = ImageDraw.Draw(out), str(rng.choice(["Digitalizado com CamScanner", "CamScanner"]))
        f = font(True, max(12, h // 70))
        box = draw.textbbox((w - w * 0.03, h - h * 0.012), text, font=f, anchor="rs")
        draw.rectangle(box, fill=(255, 255, 255))
        draw.text((w - w * 0.03, h - h * 0.012), text, fill=(40, 170, 80), font=f, anchor="rs")
        ImageDraw.Draw(visible).rectangle(box, fill=0)
    c, si = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def mapper(_page: int, x: float, y: float) -> tuple[float, float]:  # PIL rotates counter-clockwise about the centre
        dx, dy = x - w / 2, y - h / 2
        return w / 2 + dx * c + dy * si, h / 2 - dx * si + dy * c

    hidden, boxes = locate(bill.fields, mapper, np.asarray(visible))
    return Capture(out, "scan", hidden, boxes=boxes)


def capture(bill: SyntheticBill, mode: str, seed: int) -> Capture:
    """Capture ``bill`` as ``mode`` (none, scan, photo, screenshot; ``mix`` picks one) for ``seed``."""
    if mode not in MODES:
        raise ValueError(f"unknown degrade mode {mode!r}: expected one of {', '.join(MODES)}")
    kind = pick_mode(mode, seed)
    if kind == "none":  # page 1 as rendered: what only page 2 prints is not in it
        visible = np.full((bill.image.height, bill.image.width), 255, np.uint8)
        hidden, boxes = locate(bill.fields, lambda _p, x, y: (x, y), visible)
        return Capture(bill.image, "none", hidden, boxes=boxes)
    rng = np.random.default_rng([seed, 79])
    return {"photo": photo, "screenshot": screenshot, "scan": scan}[kind](bill, rng)


def store(capture_: Capture) -> Image.Image:
    """The pixels to write: turned so that a reader applying ``capture_.orientation`` sees them upright."""
    turn = {3: Image.ROTATE_180, 6: Image.ROTATE_90, 8: Image.ROTATE_270}.get(capture_.orientation)
    return capture_.image.transpose(turn) if turn is not None else capture_.image
