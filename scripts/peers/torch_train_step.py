"""Peer anchor: PyTorch (Debian python3-torch + libopenblas0-pthread) float training-step
time, the step of tinyqat's BenchmarkStepCIFAR or BenchmarkStepMNIST (train/bench_test.go).

cifar (default): batch 128 of random 3x32x32 images (seed 1), forward + cross-entropy +
backward + SGD (lr 0.1, momentum 0.9, weight decay 5e-4), for

  resnet8-mlperf  MLPerf Tiny's ResNet-8 as nn.ResNet8MLPerf builds it (77,946 parameters;
                  convolutions before a batch norm have no bias, the 1x1 stride-2 shortcuts have
                  one and no batch norm)
  resnet20        He et al.'s CIFAR ResNet-20 as nn.New("resnet20") builds it (272,474
                  parameters; three stages of three basic blocks at 16, 32, 64 channels, option B
                  shortcuts: a 1x1 projection with batch norm where the shape changes)
  lenet5          Caffe's LeNet as nn.New("lenet5") builds it for 3x32x32 (no activation after
                  the convolutions, ReLU after fc1)

mnist: batch 64 of random 1x28x28 images, forward + cross-entropy + backward + Adam
(lr 3e-3, tinyqat's default), for

  resnet8         nn.ResNet8 (a 3x3 stem to 16 channels, three basic blocks at 16, 32, 64
                  channels, each stride 2 with a 1x1 projection and batch norm on the
                  shortcut; convolutions before a batch norm have no bias)
  lenet5          as above, for 1x28x28

Usage: OPENBLAS_NUM_THREADS=T /usr/bin/python3 torch_train_step.py THREADS [STEPS [cifar|mnist]]
Prints one JSON line: wall ms per step and CPU ms per step (all threads) for each model."""
import json, sys, time, torch, torch.nn as nn

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
shape = sys.argv[3] if len(sys.argv) > 3 else "cifar"
if shape not in ("cifar", "mnist"):
    sys.exit("torch_train_step.py: shape must be cifar or mnist, got %r" % shape)
torch.set_num_threads(threads)
torch.manual_seed(1)


class Stack(nn.Module):
    def __init__(s, cin, ch, stride, short_bn=False):
        super().__init__()
        s.conv1 = nn.Conv2d(cin, ch, 3, stride, 1, bias=False); s.bn1 = nn.BatchNorm2d(ch)
        s.conv2 = nn.Conv2d(ch, ch, 3, 1, 1, bias=False); s.bn2 = nn.BatchNorm2d(ch)
        s.short = nn.Conv2d(cin, ch, 1, stride) if stride != 1 else None
        if stride != 1 and short_bn:
            s.short = nn.Sequential(nn.Conv2d(cin, ch, 1, stride, bias=False), nn.BatchNorm2d(ch))

    def forward(s, x):
        y = s.bn2(s.conv2(torch.relu(s.bn1(s.conv1(x)))))
        return torch.relu(y + (x if s.short is None else s.short(x)))


class ResNet8MLPerf(nn.Module):
    def __init__(s, classes=10):
        super().__init__()
        s.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False); s.bn1 = nn.BatchNorm2d(16)
        s.stacks = nn.Sequential(Stack(16, 16, 1), Stack(16, 32, 2), Stack(32, 64, 2))
        s.fc = nn.Linear(64, classes)

    def forward(s, x):
        x = s.stacks(torch.relu(s.bn1(s.conv1(x))))
        return s.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class ResNet8(nn.Module):
    def __init__(s, classes=10):
        super().__init__()
        s.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False); s.bn1 = nn.BatchNorm2d(16)
        s.stacks = nn.Sequential(Stack(16, 16, 2, True), Stack(16, 32, 2, True), Stack(32, 64, 2, True))
        s.fc = nn.Linear(64, classes)

    def forward(s, x):
        x = s.stacks(torch.relu(s.bn1(s.conv1(x))))
        return s.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class ResNet20(nn.Module):
    def __init__(s, classes=10):
        super().__init__()
        s.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False); s.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for ch, stride in ((16, 1), (32, 2), (64, 2)):
            for b in range(3):
                blocks.append(Stack(cin, ch, stride if b == 0 else 1, True))
                cin = ch
        s.stacks = nn.Sequential(*blocks)
        s.fc = nn.Linear(64, classes)

    def forward(s, x):
        x = s.stacks(torch.relu(s.bn1(s.conv1(x))))
        return s.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class LeNet5(nn.Module):
    def __init__(s, classes=10):
        super().__init__()
        cin, side = (3, 5) if shape == "cifar" else (1, 4)
        s.c1 = nn.Conv2d(cin, 20, 5); s.c2 = nn.Conv2d(20, 50, 5)
        s.fc1 = nn.Linear(50 * side * side, 500); s.fc2 = nn.Linear(500, classes)

    def forward(s, x):
        x = nn.functional.max_pool2d(s.c1(x), 2)
        x = nn.functional.max_pool2d(s.c2(x), 2)
        return s.fc2(torch.relu(s.fc1(torch.flatten(x, 1))))


def step_ms(m):
    m.train()
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    if shape == "cifar":
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        x = torch.rand(128, 3, 32, 32, generator=g); y = torch.randint(0, 10, (128,), generator=g)
    else:
        opt = torch.optim.Adam(m.parameters(), lr=3e-3)
        x = torch.rand(64, 1, 28, 28, generator=g); y = torch.randint(0, 10, (64,), generator=g)
    for i in range(steps + 3):
        if i == 3:
            t, c = time.perf_counter(), time.process_time()
        opt.zero_grad(); lossf(m(x), y).backward(); opt.step()
    return (time.perf_counter() - t) / steps * 1e3, (time.process_time() - c) / steps * 1e3


out = {"torch": torch.__version__, "threads": threads, "shape": shape}
models = (("resnet8-mlperf", ResNet8MLPerf), ("resnet20", ResNet20), ("lenet5", LeNet5)) if shape == "cifar" else (("resnet8", ResNet8), ("lenet5", LeNet5))
for name, cls in models:
    m = cls()
    out[name + "_params"] = sum(p.numel() for p in m.parameters())
    out[name + "_ms"], out[name + "_cpu_ms"] = step_ms(m)
print(json.dumps(out))
