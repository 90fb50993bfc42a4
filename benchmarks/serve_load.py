"""Serving under load: `bertkit serve` against a plain transformers + FastAPI server doing the
same job (the bundled all-MiniLM-L6-v2: mean pooling, normalised, 256 tokens), each in its own
process on loopback, driven by this process at a constant arrival rate that steps up until the
p99 latency passes 1 s (or the last rate). Every answer is checked against offline
`bertkit.load().embed`; requests that fail or time out are counted.

    python benchmarks/serve_load.py                        # steps of 15 s: 1, 2, 4, ... requests/s
    python benchmarks/serve_load.py --step-seconds 10 --rates 4 8 16 32 64 --texts-per-request 1

One text per request by default (a retrieval query); `--texts-per-request 8` sends chunks.
Bounded: each step at most 60 s, at most `--max-steps` steps per server, every request 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time

import numpy as np

REFERENCE = "reference"  # this file, run as the plain transformers + FastAPI server


def reference_app():
    """The baseline: transformers' AutoModel, mean pooling, normalised; TEI's /embed shape."""
    import torch
    import transformers
    from fastapi import FastAPI

    from bertkit.bundled import default_model_dir

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(default_model_dir()))
    model = transformers.AutoModel.from_pretrained(str(default_model_dir())).eval()
    app = FastAPI()
    lock = asyncio.Lock()

    @app.post("/embed")
    async def embed(body: dict):
        texts = body["inputs"] if isinstance(body["inputs"], list) else [body["inputs"]]
        async with lock:  # one model call at a time, as a simple server does
            batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
            with torch.inference_mode():
                out = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            vectors = torch.nn.functional.normalize((out * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)
        return vectors.tolist()

    return app


def start(command: list[str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while True:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"{command} did not start")
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if found:
            return process, found.group(0)


async def step(url: str, rate: float, seconds: float, requests: list[list[str]], expected: list[np.ndarray]):
    """Requests at `rate` per second for `seconds` (open loop); latencies, failures, max |diff|."""
    import httpx

    latencies, failures, worst = [], 0, 0.0
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def one(i: int) -> None:
            nonlocal failures, worst
            started = time.perf_counter()
            try:
                answer = await client.post(
                    url + "/embed", json={"inputs": requests[i % len(requests)], "truncate": True}
                )
                if answer.status_code != 200:
                    failures += 1
                    return
                latencies.append(time.perf_counter() - started)
                worst = max(worst, float(np.abs(np.array(answer.json()) - expected[i % len(requests)]).max()))
            except httpx.HTTPError:
                failures += 1

        tasks, begin, n = [], time.perf_counter(), int(rate * seconds)
        for i in range(n):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    return latencies, failures, worst, n / elapsed if elapsed else 0.0, len(latencies) / elapsed


def run(name: str, url: str, args, requests, expected) -> list[dict]:
    """Steps up the rate until two steps in a row have p99 > 1 s (one slow step on a shared
    machine is noise more often than saturation), or the rates run out."""
    rows, over = [], 0
    for rate in args.rates[: args.max_steps]:
        latencies, failures, worst, offered, served = asyncio.run(
            step(url, rate, args.step_seconds, requests, expected)
        )
        p50, p99 = (np.percentile(latencies, [50, 99]) * 1000) if latencies else (float("nan"),) * 2
        rows.append(dict(server=name, rate=rate, rps=served, p50=p50, p99=p99, failed=failures, diff=worst))
        print(f"{name:12s} {rate:6g}/s offered  {served:6.1f}/s answered  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
              f"failed {failures:4d}  max|diff| {worst:.1e}", flush=True)  # fmt: skip
        over = over + 1 if (not latencies or p99 > 1000) else 0
        if over == 2:
            break
    return rows


def memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB of a process: PSS shares each shared page among the processes mapping it."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return fields["Rss"], fields["Pss"]


def workers_check(precision: str) -> None:
    """`--workers 2` against one worker: both processes serve (their /metrics), and memory."""
    import httpx

    for workers in (1, 2):
        process, url = start([sys.executable, "-m", "bertkit", "serve", "--port", "0", "--precision", precision,
                              "--workers", str(workers)])  # fmt: skip
        try:
            served, pids = {}, set()
            for _ in range(2000):  # fresh connections: the kernel hands each to either process
                try:
                    with httpx.Client(timeout=30) as client:
                        client.post(url + "/embed", json={"inputs": ["A man is eating food."] * 8})
                        metrics = client.get(url + "/metrics").text
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                pid = int(re.search(r'bertkit_worker_info\{pid="(\d+)"\}', metrics).group(1))
                count = re.search(r'bertkit_requests_total\{route="/embed",status="200"\} (\S+)', metrics)
                served[pid] = float(count.group(1)) if count else 0.0
                pids.add(pid)
                if len(pids) == workers and sum(served.values()) >= 40:
                    break
            # Every process of the server (with --workers, the parent that loaded the model too).
            # RSS counts a page shared by several processes once in each; PSS splits it between
            # them, so the sum of PSS is what the server takes from the machine.
            rows = {pid: memory(pid) for pid in pids | {process.pid}}
            print(f"--workers {workers}: /embed answered per process {served}; "
                  + "; ".join(f"pid {pid}: RSS {rss:.0f} MB, PSS {pss:.0f} MB" for pid, (rss, pss) in rows.items())
                  + f"; total RSS {sum(r for r, _ in rows.values()):.0f} MB, total PSS (the machine's memory) "
                  f"{sum(p for _, p in rows.values()):.0f} MB",
                  flush=True)  # fmt: skip
        finally:
            process.terminate()
            process.wait(60)


def soak(args, requests, expected) -> None:
    """`--soak-seconds` at `--soak-rate` on one bertkit server, in 60 s steps: its resident
    memory after each minute, failures and latencies."""
    process, url = start([sys.executable, "-m", "bertkit", "serve", "--port", "0", "--precision", args.precision])
    try:
        for minute in range(max(1, round(args.soak_seconds / 60))):
            latencies, failures, worst, _, served = asyncio.run(step(url, args.soak_rate, 60.0, requests, expected))
            rss, pss = memory(process.pid)
            p50, p99 = np.percentile(latencies, [50, 99]) * 1000 if latencies else (float("nan"),) * 2
            print(f"minute {minute + 1}: {served:.1f} req/s answered, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
                  f"failed {failures}, max|diff| {worst:.1e}, RSS {rss:.0f} MB (PSS {pss:.0f})", flush=True)  # fmt: skip
    finally:
        process.terminate()
        process.wait(60)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == REFERENCE:
        import uvicorn

        port = int(sys.argv[2])
        print(f"reference on http://127.0.0.1:{port}", flush=True)
        uvicorn.run(reference_app(), host="127.0.0.1", port=port, log_level="warning")
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--workers-check", action="store_true", help="only: --workers 2 against 1 (both busy, memory)")
    parser.add_argument("--soak-seconds", type=float, default=0, help="only: a soak of bertkit serve, this long")
    parser.add_argument("--soak-rate", type=float, default=2.0, help="requests/s of the soak")
    args = parser.parse_args()
    if args.workers_check:
        workers_check(args.precision)
        return
    args.step_seconds = min(args.step_seconds, 60.0)

    import socket

    import bertkit
    from bertkit.bench.texts import realistic_mix

    texts = realistic_mix(400, seed=1)
    k = args.texts_per_request
    requests = [texts[i : i + k] for i in range(0, len(texts) - k + 1, k)]
    model = bertkit.load(precision="fp32")
    import warnings

    warnings.simplefilter("ignore")
    expected = [model.embed(r) for r in requests]  # offline, fp32: the numbers both servers must give
    del model
    if args.soak_seconds:
        soak(args, requests, expected)
        return

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    free = sock.getsockname()[1]
    sock.close()
    servers = [
        ("bertkit", [sys.executable, "-m", "bertkit", "serve", "--port", "0", "--precision", args.precision]),
        ("transformers", [sys.executable, __file__, REFERENCE, str(free)]),
    ]
    rows = []
    for name, command in servers:
        process, url = start(command)
        try:
            import httpx

            for _ in range(600):  # until it answers (a model loading)
                try:
                    httpx.post(url + "/embed", json={"inputs": ["warm up"]}, timeout=30)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            rows += run(name, url, args, requests, expected)
        finally:
            process.terminate()
            process.wait(60)
    print(f"\n{os.cpu_count()} CPUs; {k} text(s) per request; steps of {args.step_seconds:g} s\n")
    print(
        "| rate offered (req/s) | bertkit answered/s | p50 / p99 ms | failed | transformers + FastAPI answered/s | p50 / p99 ms | failed | p50 ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ours = {r["rate"]: r for r in rows if r["server"] == "bertkit"}
    theirs = {r["rate"]: r for r in rows if r["server"] == "transformers"}
    for rate in sorted(set(ours) | set(theirs)):
        a, b = ours.get(rate), theirs.get(rate)
        cell = lambda r: f"{r['rps']:.1f} | {r['p50']:.0f} / {r['p99']:.0f} | {r['failed']}" if r else "- | - | -"  # noqa: E731
        ratio = f"{b['p50'] / a['p50']:.2f}x" if a and b else "-"
        print(f"| {rate:g} | {cell(a)} | {cell(b)} | {ratio} |")
    print(f"\nmax |served - offline embed|: bertkit {max((r['diff'] for r in ours.values()), default=0):.1e}, "
          f"transformers {max((r['diff'] for r in theirs.values()), default=0):.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
