"""Reference outputs of the deterministic CIFAR-10-C corruptions for core/tests/corruptions.rs.

Writes core/tests/fixtures/corruptions.npy: uint8 [31, 2, 32, 32, 3]; index 0 holds two clean
natural-looking images, index 1 + 5 * k + (severity - 1) the images under operation k of
contrast, brightness, pixelate, defocus_blur, zoom_blur, jpeg_compression, computed with the
libraries make_cifar_c.py (hendrycks/robustness) uses: NumPy, scikit-image, Pillow, OpenCV,
SciPy, with the CIFAR parameters of that file, and `np.uint8` of the float results.

    /root/.venvs/torch/bin/python -m pip install scipy scikit-image opencv-python-headless pillow
    /root/.venvs/torch/bin/python scripts/make_corruption_fixtures.py
With ImageMagick 6 installed it also writes core/tests/fixtures/motion_blur.npy (see
motion_blur_fixture). The committed fixtures: ImageMagick 6.9.11-60 Q16, NumPy 2.4.6, SciPy 1.17.1, scikit-image 0.26.0, opencv-python-headless
5.0.0, Pillow 13.0.0.
"""
import io
import os
import shutil
import subprocess
import tempfile

import cv2
import numpy as np
import PIL
import scipy
import skimage
from PIL import Image
from scipy.ndimage import zoom as scipy_zoom
from skimage.color import hsv2rgb, rgb2hsv


def natural_image(rng):
    """Gradient background, two discs and a box with shading, fine texture."""
    y = np.linspace(0, 1, 32)[:, None, None]
    img = rng.uniform(.1, .9, 3) * (1 - y) + rng.uniform(.1, .9, 3) * y
    img = np.broadcast_to(img, (32, 32, 3)).copy()
    yy, xx = np.mgrid[:32, :32]
    for k in range(3):
        colour = rng.uniform(0, 1, 3)
        cx, cy = rng.uniform(4, 28, 2)
        r = rng.uniform(3, 9)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r if k < 2 else (abs(xx - cx) <= r) & (abs(yy - cy) <= .6 * r)
        shade = .8 + .2 * np.clip(-((xx - cx) + (yy - cy)) / (2 * r), -1, 1)
        img[mask] = colour * shade[mask][:, None]
    img += .04 * np.sin(xx * .9 + 1.0)[..., None] * np.cos(yy * .6)[..., None] + rng.uniform(-.02, .02, img.shape)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def contrast(x, s):
    c = [.75, .5, .4, .3, .15][s]
    x = x / 255.
    m = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - m) * c + m, 0, 1) * 255


def brightness(x, s):
    c = [.05, .1, .15, .2, .3][s]
    hsv = rgb2hsv(x / 255.)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + c, 0, 1)
    return np.clip(hsv2rgb(hsv), 0, 1) * 255


def pixelate(x, s):
    c = [.95, .9, .85, .75, .65][s]
    small = Image.fromarray(x).resize((int(32 * c), int(32 * c)), Image.BOX)
    return np.asarray(small.resize((32, 32), Image.BOX))


def defocus_blur(x, s):
    radius, alias = [(.3, .4), (.4, .5), (.5, .6), (1, .2), (1.5, .1)][s]
    grid = np.arange(-8, 9)
    gx, gy = np.meshgrid(grid, grid)
    disk = ((gx ** 2 + gy ** 2) <= radius ** 2).astype(np.float32)
    kernel = cv2.GaussianBlur(disk / disk.sum(), (3, 3), alias)
    x = x / 255.
    out = np.stack([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)], axis=2)
    return np.clip(out, 0, 1) * 255


def zoom_blur(x, s):
    factors = np.arange(1, [1.06, 1.11, 1.16, 1.21, 1.26][s], .01)
    x = (x / 255.).astype(np.float32)
    acc = np.zeros_like(x)
    for z in factors:
        crop = int(np.ceil(32 / z))
        top = (32 - crop) // 2
        zoomed = scipy_zoom(x[top:top + crop, top:top + crop], (z, z, 1), order=1)
        trim = (zoomed.shape[0] - 32) // 2
        acc += zoomed[trim:trim + 32, trim:trim + 32]
    return np.clip((x + acc) / (len(factors) + 1), 0, 1) * 255


def jpeg(x, s):
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, 'JPEG', quality=[80, 65, 58, 50, 40][s])
    return np.asarray(Image.open(buf).convert('RGB'))


def main():
    rng = np.random.RandomState(2019)
    clean = np.stack([natural_image(rng) for _ in range(2)])
    out = [clean]
    for op in [contrast, brightness, pixelate, defocus_blur, zoom_blur, jpeg]:
        for s in range(5):
            out.append(np.stack([np.uint8(op(img, s)) for img in clean]))
    arr = np.stack(out).astype(np.uint8)
    path = os.path.join(os.path.dirname(__file__), '..', 'core', 'tests', 'fixtures', 'corruptions.npy')
    np.save(path, arr)
    motion_blur_fixture(clean)
    print('wrote', path, arr.shape, 'numpy', np.__version__, 'scipy', scipy.__version__, 'skimage', skimage.__version__,
          'opencv', cv2.__version__, 'pillow', PIL.__version__)


MOTION = [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)]
MOTION_ANGLES = [-40.0, -12.5, 0.0, 20.0, 45.0]


def motion_blur_fixture(clean):
    """ImageMagick's MotionBlurImage (`convert -motion-blur RxS+A`, as Wand's motion_blur) at the
    CIFAR (radius, sigma) of each severity and the fixed angle MOTION_ANGLES[severity - 1]:
    core/tests/fixtures/motion_blur.npy, uint8 [5, 2, 32, 32, 3]."""
    exe = shutil.which('convert-im6.q16') or shutil.which('magick')
    if exe is None:
        print('ImageMagick not found (apt-get install imagemagick-6.q16): motion_blur.npy not written')
        return
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for (radius, sigma), angle in zip(MOTION, MOTION_ANGLES):
            imgs = []
            for k, img in enumerate(clean):
                src, dst = os.path.join(tmp, f'{k}.png'), os.path.join(tmp, f'{k}-out.png')
                Image.fromarray(img).save(src)
                subprocess.run([exe, src, '-motion-blur', f'{radius}x{sigma}{angle:+}', dst], check=True)
                imgs.append(np.asarray(Image.open(dst).convert('RGB')))
            out.append(np.stack(imgs))
    version = subprocess.run([exe, '-version'], capture_output=True, text=True).stdout.splitlines()[0]
    path = os.path.join(os.path.dirname(__file__), '..', 'core', 'tests', 'fixtures', 'motion_blur.npy')
    np.save(path, np.stack(out).astype(np.uint8))
    print('wrote', path, version)


if __name__ == '__main__':
    main()
