"""Peer: PyTorch trains the same CIFAR-10 networks with the same recipe as
`tinyqat train`, on the same image folders, so accuracy and epoch time sit
side by side.

    /usr/bin/python3 scripts/peers/torch_cifar.py --data DIR --model resnet8-mlperf \
        --epochs 30 --batch 128 --lr 0.1 --weight-decay 5e-4 --threads 2 --seed 1

DIR is an image-folder tree, DIR/{train,test}/CLASS/*.jpg|png (the CIFAR-10
JPEG copy), or CIFAR-10's binary release (cifar-10-batches-bin or its
parent, read as tinyqat reads it; --pixels does not apply). Needs Debian's /usr/bin/python3 with Debian's python3-torch, libopenblas0-pthread (without it
torch runs on the reference BLAS, about 4x slower) and python3-pil.

The recipe is tinyqat's, term for term:
- data: by default the very bytes tinyqat decoded (its image cache, so both
  see identical pixels; Go's image/jpeg and PIL's libjpeg decode the same
  JPEG differently); --pixels pil decodes with PIL instead (cached in
  ~/.cache/tinyqat-peers); classes = sorted folder names;
- augmentation (training only, per image, fresh each epoch): a random crop
  of the 32x32 image padded with 4 black pixels on every side (torchvision's
  RandomCrop(32, padding=4) on the raw pixels), then a left-right mirror
  with probability 1/2;
- normalization: per-channel mean and standard deviation of p/255 over the
  training set (tinyqat --normalize);
- SGD with heavy-ball momentum 0.9 and L2 weight decay on every parameter
  (torch.optim.SGD: u = mu*u + g + wd*w, w -= lr*u, as tinyqat's sgd);
- learning rate per step: lr(e) = base*(0.01 + 0.99*(1 + cos(pi*e/E))/2)
  with e the fractional epoch (tinyqat's cosine schedule);
- cross-entropy averaged over the batch; batch-norm eps 1e-5, momentum 0.1;
- initialisation: He normal (fan-in) for weights followed by a batch norm
  or a ReLU, Glorot uniform for the others (the classifier, resnet8-mlperf's
  projection shortcuts), zero biases.
Initial weights and shuffling use torch's generator, not tinyqat's: the two
runs share the recipe, not the random numbers.

Prints one line per epoch and a final JSON line: test accuracy per epoch,
seconds per epoch (training only), threads.
"""
import argparse, json, math, os, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


def load_split(root, split, classes=None):
    d = os.path.join(root, split)
    names = sorted(n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)))
    if classes is not None and names != classes:
        sys.exit(f"{d}: classes {names} differ from the training split's {classes}")
    xs, ys = [], []
    for ci, n in enumerate(names):
        for f in sorted(os.listdir(os.path.join(d, n))):
            if not f.lower().endswith((".png", ".jpg", ".jpeg")):
                continue
            with Image.open(os.path.join(d, n, f)) as im:
                a = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if a.shape != (32, 32, 3):
                sys.exit(f"{os.path.join(d, n, f)}: {a.shape[1]}x{a.shape[0]}, want 32x32")
            xs.append(a.transpose(2, 0, 1))
            ys.append(ci)
    return np.stack(xs), np.array(ys, dtype=np.int64), names


def tinyqat_cache_path(root):
    """The cache file tinyqat writes for the image folders at root, at their
    own size (datasets.folderCachePath: sha256 of the absolute directory,
    a NUL and "0x0"; first 10 bytes in hex)."""
    import hashlib
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    h = hashlib.sha256(os.path.abspath(root).encode() + b"\x000x0").hexdigest()[:20]
    return os.path.join(base, "tinyqat", "datasets", "folder-" + h + ".tqc")


def load_tinyqat_cache(path):
    """Reads tinyqat's decoded-image cache (datasets/cache.go): magic
    TQIMGC01, uint32 header length, JSON header, train labels, train pixels
    (CHW), test labels, test pixels, CRC-32C (not checked here)."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:8] != b"TQIMGC01":
        sys.exit(f"{path}: not a tinyqat image cache")
    n = int.from_bytes(b[8:12], "little")
    h = json.loads(b[12:12 + n])
    c, hh, w, ntr, nte = h["c"], h["h"], h["w"], h["train"], h["test"]
    at, img = 12 + n, c * hh * w

    def take(k):
        nonlocal at
        v = np.frombuffer(b, dtype=np.uint8, count=k, offset=at)
        at += k
        return v

    ytr = take(ntr).astype(np.int64)
    xtr = take(ntr * img).reshape(ntr, c, hh, w).copy()
    yte = take(nte).astype(np.int64)
    xte = take(nte * img).reshape(nte, c, hh, w).copy()
    return xtr, ytr, xte, yte, h["classes"]


def load_cifar_bin(d):
    """CIFAR-10's binary release: records of a label byte and 3,072 pixel
    bytes (red, green, blue planes), class names from batches.meta.txt;
    the bytes tinyqat reads, with no decoding in between."""
    def read(names):
        b = np.concatenate([np.fromfile(os.path.join(d, n), dtype=np.uint8) for n in names])
        if b.size % 3073:
            sys.exit(f"{d}: {names}: not whole 3073-byte records")
        r = b.reshape(-1, 3073)
        return r[:, 1:].reshape(-1, 3, 32, 32).copy(), r[:, 0].astype(np.int64)
    xtr, ytr = read([f"data_batch_{i}.bin" for i in range(1, 6)])
    xte, yte = read(["test_batch.bin"])
    with open(os.path.join(d, "batches.meta.txt")) as f:
        names = [l.strip() for l in f if l.strip()]
    return xtr, ytr, xte, yte, names


def load(root, pixels):
    for d in (root, os.path.join(root, "cifar-10-batches-bin")):
        if os.path.exists(os.path.join(d, "data_batch_1.bin")):
            return load_cifar_bin(d)
    if pixels == "tinyqat":
        p = tinyqat_cache_path(root)
        if not os.path.exists(p):
            sys.exit(f"{p}: no tinyqat cache of {root}; run `tinyqat train --data {root} ...` once, or use --pixels pil")
        return load_tinyqat_cache(p)
    cache = os.path.join(os.path.expanduser("~/.cache/tinyqat-peers"), os.path.abspath(root).strip("/").replace("/", "_"))
    try:
        z = np.load(cache + ".npz")
        return z["xtr"], z["ytr"], z["xte"], z["yte"], list(z["names"])
    except (OSError, KeyError):
        pass
    xtr, ytr, names = load_split(root, "train")
    xte, yte, _ = load_split(root, "test", names)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    np.savez(cache + ".tmp.npz", xtr=xtr, ytr=ytr, xte=xte, yte=yte, names=np.array(names))
    os.replace(cache + ".tmp.npz", cache + ".npz")
    return xtr, ytr, xte, yte, names


class Block(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    def __init__(self, cin, cout, stride, shortcut):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.sc = shortcut

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.sc(x) if self.sc is not None else x))


class Net(nn.Module):
    def __init__(self, model, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks, cin = [], 16
        for ch, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(1 if model == "resnet8-mlperf" else 3):
                s = stride if b == 0 else 1
                sc = None
                if s != 1 or cin != ch:
                    if model == "resnet8-mlperf":  # 1x1 projection with a bias, no BN (the Keras reference)
                        sc = nn.Conv2d(cin, ch, 1, s, 0, bias=True)
                        sc.glorot = True  # neither BN nor ReLU follows it
                    else:  # resnet20, option B: 1x1 projection with BN
                        sc = nn.Sequential(nn.Conv2d(cin, ch, 1, s, 0, bias=False), nn.BatchNorm2d(ch))
                blocks.append(Block(cin, ch, s, sc))
                cin = ch
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if getattr(m, "glorot", False):
                    nn.init.xavier_uniform_(m.weight)
                else:
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def augment(xb, g):
    """RandomCrop(32, padding=4) on raw pixels, then a mirror with p = 1/2."""
    n = xb.shape[0]
    pad = np.zeros((n, 3, 40, 40), dtype=np.uint8)
    pad[:, :, 4:36, 4:36] = xb
    dx, dy = g.integers(0, 9, n), g.integers(0, 9, n)
    flip = g.integers(0, 2, n).astype(bool)
    out = np.empty_like(xb)
    for i in range(n):
        c = pad[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        out[i] = c[:, :, ::-1] if flip[i] else c
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", default="resnet8-mlperf", choices=["resnet8-mlperf", "resnet20"])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--pixels", default="tinyqat", choices=["tinyqat", "pil"],
                    help="tinyqat: the bytes tinyqat decoded (its cache; identical inputs); pil: decode the JPEGs with PIL "
                         "(libjpeg smooths the chroma: other pixels, std about 0.5%% lower)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop each epoch after N steps (timing runs)")
    ap.add_argument("--checkpoint", default="",
                    help="save the run's whole state to this file after every epoch (atomically) and, when it "
                         "exists, continue from it: a long run survives being stopped (the resumed run is exact)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    g = np.random.default_rng(a.seed)

    xtr, ytr, xte, yte, names = load(a.data, a.pixels)
    if a.train_limit:
        xtr, ytr = xtr[: a.train_limit], ytr[: a.train_limit]
    f = xtr.astype(np.float64) / 255
    mean = f.mean(axis=(0, 2, 3)).astype(np.float32)
    std = f.std(axis=(0, 2, 3)).astype(np.float32)
    del f
    m_t, s_t = torch.from_numpy(mean).view(1, 3, 1, 1), torch.from_numpy(std).view(1, 3, 1, 1)

    def tensor(xb):
        return (torch.from_numpy(np.ascontiguousarray(xb)).float() / 255 - m_t) / s_t

    net = Net(a.model, len(names))
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, weight_decay=a.weight_decay)
    n = len(ytr)
    steps = (n + a.batch - 1) // a.batch
    print(f"torch {torch.__version__}, {a.threads} thread(s), {a.model} "
          f"({sum(p.numel() for p in net.parameters())} parameters), {n} train / {len(yte)} test, "
          f"mean {mean.tolist()} std {std.tolist()}", flush=True)
    accs, secs, start = [], [], 0
    if a.checkpoint and os.path.exists(a.checkpoint):
        ck = torch.load(a.checkpoint)
        if ck["args"] != vars(a):
            sys.exit(f"{a.checkpoint}: saved by a run with other settings {ck['args']}")
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        g.bit_generator.state = ck["numpy_rng"]
        torch.set_rng_state(ck["torch_rng"])
        accs, secs, start = ck["accs"], ck["secs"], ck["epoch"]
        print(f"resumed from {a.checkpoint} after epoch {start}", flush=True)
    for ep in range(start, a.epochs):
        net.train()
        perm = g.permutation(n)
        t0 = time.perf_counter()
        loss_sum, seen = 0.0, 0
        for b in range(steps):
            if a.max_steps and b >= a.max_steps:
                break
            e = ep + b / steps
            lr = a.lr * (0.01 + 0.99 * (1 + math.cos(math.pi * min(e / a.epochs, 1))) / 2)
            for pg in opt.param_groups:
                pg["lr"] = lr
            idx = perm[b * a.batch:(b + 1) * a.batch]
            x, y = tensor(augment(xtr[idx], g)), torch.from_numpy(ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
        secs.append(time.perf_counter() - t0)
        net.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(yte), 500):
                correct += (net(tensor(xte[i:i + 500])).argmax(1).numpy() == yte[i:i + 500]).sum()
        accs.append(correct / len(yte))
        print(f"epoch {ep + 1}/{a.epochs}  loss {loss_sum / seen:.4f}  test {100 * accs[-1]:.2f}%  {secs[-1]:.1f}s", flush=True)
        if a.checkpoint:
            torch.save({"args": vars(a), "net": net.state_dict(), "opt": opt.state_dict(),
                        "numpy_rng": g.bit_generator.state, "torch_rng": torch.get_rng_state(),
                        "accs": accs, "secs": secs, "epoch": ep + 1}, a.checkpoint + ".tmp")
            os.replace(a.checkpoint + ".tmp", a.checkpoint)
    print(json.dumps({"peer": "pytorch", "torch": torch.__version__, "model": a.model, "threads": a.threads,
                      "seed": a.seed, "epochs": a.epochs, "batch": a.batch, "test_acc": [float(v) for v in accs],
                      "epoch_seconds": secs}))


if __name__ == "__main__":
    main()
