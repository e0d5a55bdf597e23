"""PyTorch float32 inference time of lenet300 (784-300-100-10) and Caffe lenet5,
one thread, batch 1, 64 and 1000, on random MNIST-shaped inputs (speed only).
Run with OPENBLAS_NUM_THREADS=1. Usage: python3 torch_infer_speed.py [images]
Prints one JSON line: microseconds per image, best of 5 rounds per batch size."""
import json, sys, time, torch, torch.nn as nn
torch.manual_seed(1); torch.set_num_threads(1)
images = int(sys.argv[1]) if len(sys.argv) > 1 else 2000

l300 = nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
l5 = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2), nn.Flatten(),
                   nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
out = {}
with torch.no_grad():
    for name, m in (("lenet300", l300), ("lenet5", l5)):
        m.eval()
        for b in (1, 64, 1000):
            x = torch.rand(b, 1, 28, 28); calls = max(1, images // b)
            m(x)  # warm-up
            best = float("inf")
            for _ in range(5):
                t = time.perf_counter()
                for _ in range(calls): m(x)
                best = min(best, (time.perf_counter() - t) / (calls * b) * 1e6)
            out[f"{name}_b{b}_us"] = best
print(json.dumps(out))
