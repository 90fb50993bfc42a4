"""Serving benchmark: `bertkit serve` under concurrent loopback clients, against the library
called directly, one request at a time, in the same run.

    python benchmarks/serve.py                              # 8 clients x 20 requests of 1 text
    python benchmarks/serve.py --clients 16 --requests 10 --texts-per-request 4 --max-wait-ms 10

The server runs as its own process (`python -m bertkit serve --port 0`, 127.0.0.1 only), so
the clients' threads do not share its interpreter. Each client keeps one connection open and
sends its requests one after another; every request holds texts from `tests/corpora.py`'s
realistic mix (long ones are truncated at 128 tokens). The reference embeds the same requests
with `bertkit.load().embed`, one call per request, in this process. Prints requests/s, p50 and
p90 latency, and how many model calls the server's micro-batcher made.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20, help="per client")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()

    from bertkit.bench.texts import realistic_mix  # the bench's real-text mix

    total = args.clients * args.requests
    texts = realistic_mix(total * args.texts_per_request, seed=1)
    requests = [texts[i * args.texts_per_request : (i + 1) * args.texts_per_request] for i in range(total)]

    import bertkit

    model = bertkit.load(precision=args.precision)
    model.embed(requests[0], "mean", True)  # warm-up
    start = time.perf_counter()
    direct = [_timed(lambda r=r, embed=model.embed: embed(r, "mean", True)) for r in requests]
    direct_s = time.perf_counter() - start
    del model

    server = subprocess.Popen(
        [sys.executable, "-m", "bertkit", "serve", "--port", "0", "--precision", args.precision,
         "--max-wait-ms", str(args.max_wait_ms)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = int(server.stdout.readline().split("http://127.0.0.1:")[1].split(" ")[0])
        _post(http.client.HTTPConnection("127.0.0.1", port), {"texts": requests[0]})  # warm-up
        latencies: list[float] = []

        def client(c: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for r in requests[c * args.requests : (c + 1) * args.requests]:
                latencies.append(_timed(lambda r=r: _post(connection, {"texts": r})))
            connection.close()

        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        served_s = time.perf_counter() - start
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("GET", "/health")
        batching = json.loads(connection.getresponse().read())["batching"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    def ms(values, q):
        return 1000 * statistics.quantiles(values, n=10)[q - 1] if q != 5 else 1000 * statistics.median(values)

    print(f"{total} requests x {args.texts_per_request} text(s), {args.clients} clients, precision {args.precision}")
    print(
        f"  bertkit serve   {total / served_s:7.1f} req/s  p50 {ms(latencies, 5):7.1f} ms  p90 {ms(latencies, 9):7.1f} ms"
    )
    print(
        f"  direct embed()  {total / direct_s:7.1f} req/s  p50 {ms(direct, 5):7.1f} ms  p90 {ms(direct, 9):7.1f} ms  (one call per request, no HTTP)"
    )
    print(f"  ratio serve/direct requests/s: {direct_s / served_s:.2f}x")
    print(
        f"  micro-batcher: {batching['requests']} requests in {batching['calls']} model calls ({batching['merged']} merged)"
    )


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _post(connection: http.client.HTTPConnection, body: dict) -> dict:
    connection.request("POST", "/embed", json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"server answered {response.status}: {answer}")
    return answer


if __name__ == "__main__":
    main()
