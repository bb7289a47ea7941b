"""One text model's bench in a fresh process: `python -m mc.hf.bench_worker REQUEST.json RESULT.json`.

Thread limits are in the environment before ONNX Runtime loads; torch is never imported here, so
the peak RSS the parent reads is the runtime's, the model's and the tokenizer's. Latency is closed
loop, batch 1, at each sequence length: real paragraphs truncated to exactly that many tokens,
cycled so that no single input is timed over and over. Embeddings of the fidelity texts go to an
.npy file for the parent to compare with the reference's.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from mc.resident import peak_resident_mb


def _bench(request: dict) -> dict:
    import numpy as np

    from mc.hf.embeddings import TextSession, TextSet, embed_all, encode
    from mc.hf.source import load_runtime_tokenizer
    from mc.percentiles import summarize

    model_path = Path(request["model_path"])
    started = time.perf_counter()
    session = TextSession(model_path, request["threads"])
    tokenizer = load_runtime_tokenizer(model_path.parent)
    load_s = time.perf_counter() - started
    loaded_rss = peak_resident_mb()
    latency = {}
    for length in request["lengths"]:
        inputs = [encode(tokenizer, [text], length, pad_to_max=True) for text in request["timing_texts"]]
        feeds = [session.feeds(encoded) for encoded in inputs]
        for index in range(request["warmup"]):
            session.session.run(None, feeds[index % len(feeds)])
        times = []
        for index in range(request["queries"]):
            begin = time.perf_counter()
            session.session.run(None, feeds[index % len(feeds)])
            times.append((time.perf_counter() - begin) * 1e3)
        latency[str(length)] = summarize(times)
    timed_rss = peak_resident_mb()
    memory = TextSet.of(tokenizer, request["memory_texts"], request["max_length"])
    texts = TextSet.of(tokenizer, request["fidelity_texts"], request["max_length"])
    np.save(request["embeddings_path"], embed_all(session, texts, memory))
    return {"latency_ms": latency, "load_s": load_s, "peak_rss_mb": peak_resident_mb(),
            "peak_rss_mb_after": {"load": loaded_rss, "latency": timed_rss}, "has_memory": session.memory is not None,
            "size_bytes": model_path.stat().st_size, "torch_imported": "torch" in sys.modules}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m mc.hf.bench_worker REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[0]).read_text())
    from mc.bench.worker import thread_environment

    for name, value in thread_environment(int(request["threads"])).items():
        os.environ.setdefault(name, value)
    from mc.errors import McError

    try:
        result = {"status": "ok", **_bench(request)}
        code = 0
    except McError as error:
        result, code = {"status": "failed", "error": str(error)}, 2
    except Exception as error:
        import traceback

        traceback.print_exc()
        text = str(error).strip()
        result, code = {"status": "failed", "error": f"{type(error).__name__}: {text.splitlines()[0][:300] if text else ''}"}, 1
    Path(argv[1]).write_text(json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
