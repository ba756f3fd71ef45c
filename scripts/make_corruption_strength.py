"""Mean |corrupted - clean| (byte levels) per severity of the random CIFAR-10-C corruptions,
computed with the libraries and CIFAR parameters of make_cifar_c.py (hendrycks/robustness) on
the two clean images of core/tests/fixtures/corruptions.npy, averaged over many random draws.
core/tests/corruptions.rs checks that our implementations (other random generator) give the
same strength. Writes core/tests/fixtures/corruption_strength.json.

    /root/.venvs/torch/bin/python scripts/make_corruption_strength.py [FROST_DIR]
Needs NumPy, SciPy, scikit-image, OpenCV, Pillow and (for snow) ImageMagick 6's convert; frost
needs FROST_DIR with the reference's frost1-5 photographs (hendrycks/robustness,
ImageNet-C/create_c/), which are not in this repository.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import cv2
import numpy as np
from PIL import Image
from scipy.ndimage import map_coordinates
from scipy.ndimage import zoom as scipy_zoom
from skimage.filters import gaussian
from skimage.util import random_noise

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, '..', 'core', 'tests', 'fixtures')


def gaussian_noise(x, s):
    return np.clip(x / 255. + np.random.normal(scale=[.04, .06, .08, .09, .10][s], size=x.shape), 0, 1) * 255


def shot_noise(x, s):
    lam = [500, 250, 100, 75, 50][s]
    return np.clip(np.random.poisson(x / 255. * lam) / lam, 0, 1) * 255


def impulse_noise(x, s):
    return np.clip(random_noise(x / 255., mode='s&p', amount=[.01, .02, .03, .05, .07][s], rng=np.random.randint(2 ** 31)), 0, 1) * 255


def glass_blur(x, s):
    sigma, delta, rounds = [(.05, 1, 1), (.25, 1, 1), (.4, 1, 1), (.25, 1, 2), (.4, 1, 2)][s]
    y = np.uint8(gaussian(x / 255., sigma=sigma, channel_axis=-1) * 255)
    for _ in range(rounds):
        for h in range(32 - delta, delta, -1):
            for w in range(32 - delta, delta, -1):
                dx, dy = np.random.randint(-delta, delta, size=(2,))
                # The reference writes `y[h, w], y[h + dy, w + dx] = y[h + dy, w + dx], y[h, w]`,
                # which on NumPy views copies the neighbour into (h, w); do the same explicitly.
                y[h, w] = y[h + dy, w + dx].copy()
    return np.clip(gaussian(y / 255., sigma=sigma, channel_axis=-1), 0, 1) * 255


def plasma(size, decay):
    """Diamond-square on a wrapping grid; new points = mean of 4 neighbours + w * U(-w, w)."""
    m = np.zeros((size, size))
    step, w = size, 100.
    while step >= 2:
        half = step // 2
        corners = m[0::step, 0::step]
        around = corners + np.roll(corners, -1, 0)
        around = around + np.roll(around, -1, 1)
        m[half::step, half::step] = around / 4 + w * np.random.uniform(-w, w, around.shape)
        centres, corners = m[half::step, half::step], m[0::step, 0::step]
        top = centres + np.roll(centres, 1, 0) + corners + np.roll(corners, -1, 1)
        m[0::step, half::step] = top / 4 + w * np.random.uniform(-w, w, top.shape)
        left = centres + np.roll(centres, 1, 1) + corners + np.roll(corners, -1, 0)
        m[half::step, 0::step] = left / 4 + w * np.random.uniform(-w, w, left.shape)
        step //= 2
        w /= decay
    m -= m.min()
    return m / m.max()


def fog(x, s):
    c, decay = [(.2, 3), (.5, 3), (.75, 2.5), (1, 2), (1.5, 1.75)][s]
    x = x / 255.
    top = x.max()
    x = x + c * plasma(32, decay)[..., None]
    return np.clip(x * top / (top + c), 0, 1) * 255


def elastic_transform(x, s):
    alpha, sigma, spread = [32 * v for v in [(0, 0, .08), (.05, .2, .07), (.08, .06, .06), (.1, .04, .05), (.1, .03, .03)][s]]
    img = (x / 255.).astype(np.float32)
    pts = np.float32([[26, 26], [26, 6], [6, 6]])
    moved = pts + np.random.uniform(-spread, spread, size=pts.shape).astype(np.float32)
    img = cv2.warpAffine(img, cv2.getAffineTransform(pts, moved), (32, 32), borderMode=cv2.BORDER_REFLECT_101)
    fx = (gaussian(np.random.uniform(-1, 1, (32, 32)), sigma, mode='reflect', truncate=3) * alpha).astype(np.float32)
    fy = (gaussian(np.random.uniform(-1, 1, (32, 32)), sigma, mode='reflect', truncate=3) * alpha).astype(np.float32)
    yy, xx, cc = np.meshgrid(np.arange(32), np.arange(32), np.arange(3), indexing='ij')
    coords = [(yy + fy[..., None]).ravel(), (xx + fx[..., None]).ravel(), cc.ravel()]
    return np.clip(map_coordinates(img, coords, order=1, mode='reflect').reshape(32, 32, 3), 0, 1) * 255


def snow(x, s, tmp, exe):
    mean, std, zoom, thr, radius, sigma, blend = [(.1, .2, 1, .6, 8, 3, .95), (.1, .2, 1, .5, 10, 4, .9), (.15, .3, 1.75, .55, 10, 4, .9),
                                                  (.25, .3, 2.25, .6, 12, 6, .85), (.3, .3, 1.25, .65, 14, 12, .8)][s]
    x = (x / 255.).astype(np.float32)
    layer = np.random.normal(mean, std, (32, 32, 1))
    crop = int(np.ceil(32 / zoom))
    top = (32 - crop) // 2
    layer = scipy_zoom(layer[top:top + crop, top:top + crop], (zoom, zoom, 1), order=1)
    trim = (layer.shape[0] - 32) // 2
    layer = layer[trim:trim + 32, trim:trim + 32]
    layer[layer < thr] = 0
    src, dst = os.path.join(tmp, 'flakes.png'), os.path.join(tmp, 'flakes-out.png')
    Image.fromarray((np.clip(layer[..., 0], 0, 1) * 255).astype(np.uint8), mode='L').save(src)
    subprocess.run([exe, src, '-motion-blur', f'{radius}x{sigma}{np.random.uniform(-135, -45):+}', dst], check=True)
    flakes = np.asarray(Image.open(dst).convert('L'))[..., None] / 255.
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, gray * 1.5 + .5)
    return np.clip(x + flakes + np.rot90(flakes, k=2), 0, 1) * 255


def frost(x, s, photos):
    a, b = [(1, .2), (1, .3), (.9, .4), (.85, .4), (.75, .45)][s]
    photo = photos[np.random.randint(5)]
    y, z = np.random.randint(0, photo.shape[0] - 32), np.random.randint(0, photo.shape[1] - 32)
    return np.clip(a * x + b * photo[y:y + 32, z:z + 32], 0, 255)


def main():
    clean = np.load(os.path.join(FIXTURES, 'corruptions.npy'))[0]
    np.random.seed(0)
    ops = {'gaussian_noise': gaussian_noise, 'shot_noise': shot_noise, 'impulse_noise': impulse_noise,
           'glass_blur': glass_blur, 'fog': fog, 'elastic_transform': elastic_transform}
    draws = 100
    result = {'draws_per_image': draws}
    for name, op in ops.items():
        result[name] = [float(np.mean([np.abs(np.uint8(op(img, s)).astype(float) - img).mean()
                                       for img in clean for _ in range(draws)])) for s in range(5)]
        print(name, np.round(result[name], 3))
    exe = shutil.which('convert-im6.q16')
    if exe:
        with tempfile.TemporaryDirectory() as tmp:
            result['snow'] = [float(np.mean([np.abs(np.uint8(snow(img, s, tmp, exe)).astype(float) - img).mean()
                                             for img in clean for _ in range(draws // 4)])) for s in range(5)]
        print('snow', np.round(result['snow'], 3))
    if len(sys.argv) > 1:
        names = ['frost1.png', 'frost2.png', 'frost3.png', 'frost4.jpg', 'frost5.jpg']
        photos = [cv2.resize(cv2.imread(os.path.join(sys.argv[1], n)), (0, 0), fx=.2, fy=.2)[..., ::-1].astype(float) for n in names]
        result['frost'] = [float(np.mean([np.abs(np.uint8(frost(img, s, photos)).astype(float) - img).mean()
                                          for img in clean for _ in range(draws)])) for s in range(5)]
        print('frost', np.round(result['frost'], 3))
    with open(os.path.join(FIXTURES, 'corruption_strength.json'), 'w') as f:
        json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
