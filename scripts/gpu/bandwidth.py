"""Measure device-to-device copy bandwidth (bytes read + written per second): the decode-step bound."""

import json

import torch

n = 2 * 1024**3  # 2 GiB
src = torch.empty(n, dtype=torch.uint8, device="cuda")
dst = torch.empty_like(src)
for _ in range(3):
    dst.copy_(src)
torch.cuda.synchronize()
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
start.record()
for _ in range(10):
    dst.copy_(src)
end.record()
torch.cuda.synchronize()
seconds = start.elapsed_time(end) / 1000 / 10
print(json.dumps({"device": torch.cuda.get_device_name(0), "copy_bytes_per_s": 2 * n / seconds}))
