"""Statistics of the frost photographs of make_cifar_c.py, behind the procedural frost texture
(`FROST_STYLES` in core/src/corruptions/weather.rs).

The reference scales each photograph by 0.2 (cv2.resize, INTER_LINEAR) and adds a random 32 x 32
crop; it draws from frost1..frost5 only (`np.random.randint(5)`). For each, over 400 random crops:
per-channel mean, mean within-crop standard deviation, standard deviation of the crop means, and
the lag-1/2/4/8 autocorrelation of the gray crop. The photographs are not in this repository:
they are in hendrycks/robustness, ImageNet-C/create_c/frost{1,2,3}.png and frost{4,5}.jpg.

    /root/.venvs/torch/bin/python scripts/measure_frost.py DIR_WITH_FROST_IMAGES
"""
import os
import sys

import cv2
import numpy as np


def main(folder):
    rng = np.random.default_rng(0)
    for name in ['frost1.png', 'frost2.png', 'frost3.png', 'frost4.jpg', 'frost5.jpg']:
        bgr = cv2.imread(os.path.join(folder, name))
        a = cv2.resize(bgr, (0, 0), fx=0.2, fy=0.2)[..., ::-1].astype(float) / 255  # as the reference
        crops = []
        for _ in range(400):
            y, x = rng.integers(0, a.shape[0] - 32), rng.integers(0, a.shape[1] - 32)
            crops.append(a[y:y + 32, x:x + 32])
        c = np.array(crops)
        g = c.mean(-1)
        g = g - g.mean((1, 2), keepdims=True)
        var = (g ** 2).mean()
        lags = [float((g[:, :, k:] * g[:, :, :-k]).mean() / var) for k in (1, 2, 4, 8)]
        print(name, 'mean', c.mean((0, 1, 2)).round(3), 'within-crop sd', c.std((1, 2)).mean(0).round(3),
              'sd of crop means', c.mean((1, 2)).std(0).round(3), 'autocorrelation lag 1,2,4,8', np.round(lags, 2))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else '.')
