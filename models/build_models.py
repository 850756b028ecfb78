#!/usr/bin/env python3
"""Rebuilds the shipped models from data that ships with scikit-learn.

    pip install torch==2.13.0 onnxscript && python models/build_models.py

Training is seeded and single-threaded, so a rebuild gives the same weights on
the same torch build. Each model is exported with the legacy TorchScript
exporter (`<name>.onnx`); the digits CNN is also exported with the dynamo
exporter (`digits_cnn_dynamo.onnx`) so both exporters' graphs stay covered.
Users and CI need none of this: the .onnx files are committed.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from zonnx.datasets import digits_split, iris_split  # noqa: E402


def seed(n: int = 0) -> None:
    torch.manual_seed(n)
    np.random.seed(n)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class IrisMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.net(x)


class DigitsLSTM(nn.Module):
    """Reads an 8x8 digit row by row (8 steps of 8 pixels)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 32, batch_first=True)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.fc(h[-1])


class Generator(nn.Module):
    """DCGAN-style: latent [1, 16, 1, 1] -> 8x8 image in [-1, 1]."""

    def __init__(self, nz: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, 32, 4, 1, 0, bias=False), nn.BatchNorm2d(32), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(32, 1, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.net(z)


def train_classifier(model, xtr, ytr, epochs, lr=1e-2, batch=64):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.tensor(xtr), torch.tensor(ytr)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    return model


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(torch.tensor(x)).argmax(1).numpy() == y).mean())


def train_gan(xtr, steps=600, nz=16):
    g = Generator(nz)
    d = nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 1, 4, 1, 0),
                      nn.Flatten())
    og = torch.optim.Adam(g.parameters(), 2e-3, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), 2e-3, betas=(0.5, 0.999))
    real_all = torch.tensor(xtr) * 2 - 1
    bce = nn.functional.binary_cross_entropy_with_logits
    for _ in range(steps):
        real = real_all[torch.randint(0, len(real_all), (64,))]
        fake = g(torch.randn(64, nz, 1, 1))
        od.zero_grad()
        (bce(d(real), torch.ones(64, 1)) + bce(d(fake.detach()), torch.zeros(64, 1))).backward()
        od.step()
        og.zero_grad()
        bce(d(fake), torch.ones(64, 1)).backward()
        og.step()
    g.eval()
    return g


def export(model, example, name, dynamo=False, **names):
    path = os.path.join(HERE, name)
    if dynamo:
        prog = torch.onnx.export(model, (example,), dynamo=True, **names)
        prog.save(path, external_data=False)
    else:
        torch.onnx.export(model, (example,), path, dynamo=False, opset_version=17, **names)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main() -> int:
    seed()
    (xtr, ytr), (xte, yte) = digits_split()
    cnn = train_classifier(DigitsCNN(), xtr, ytr, epochs=40, lr=3e-3, batch=32)
    print(f"digits CNN test accuracy {accuracy(cnn, xte, yte):.4f} on {len(yte)} images")
    io = dict(input_names=["image"], output_names=["logits"])
    export(cnn, torch.tensor(xte[:1]), "digits_cnn.onnx", **io)
    export(cnn, torch.tensor(xte[:1]), "digits_cnn_dynamo.onnx", dynamo=True, **io)

    seed()
    lstm = train_classifier(DigitsLSTM(), xtr[:, 0], ytr, epochs=40, lr=3e-3, batch=32)
    print(f"digits LSTM test accuracy {accuracy(lstm, xte[:, 0], yte):.4f}")
    export(lstm, torch.tensor(xte[:1, 0]), "digits_lstm.onnx", input_names=["rows"],
           output_names=["logits"])

    seed()
    (itr, jtr), (ite, jte) = iris_split()
    mlp = train_classifier(IrisMLP(), itr, jtr, epochs=200, lr=1e-2, batch=16)
    print(f"iris MLP test accuracy {accuracy(mlp, ite, jte):.4f} on {len(jte)} flowers")
    export(mlp, torch.tensor(ite[:1]), "iris_mlp.onnx", input_names=["features"],
           output_names=["logits"])

    seed()
    gen = train_gan(xtr)
    export(gen, torch.randn(1, 16, 1, 1), "digits_dcgan.onnx", input_names=["z"],
           output_names=["image"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
