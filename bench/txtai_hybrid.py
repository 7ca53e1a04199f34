"""txtai hybrid search baseline; runs inside its own venv (see bench/requirements-txtai.txt).

Reads {"model", "docs": [[id, text]...], "queries": [...], "k"} as JSON on stdin and prints
{"ranked": [[id...]...], "latency_ms": [...]} on stdout. Kept apart from matchgraph's venv so
that txtai's dependencies never touch the project's.
"""

import json
import sys
import time

from txtai import Embeddings


def main() -> None:
    job = json.load(sys.stdin)
    # hybrid=True: txtai's own BM25 ("scoring") fused with dense vectors, its default fusion.
    embeddings = Embeddings(path=job["model"], content=False, hybrid=True, backend="faiss")
    embeddings.index([(i, text, None) for i, (_, text) in enumerate(job["docs"])])
    ids = [doc_id for doc_id, _ in job["docs"]]
    ranked, latency = [], []
    for query in job["queries"]:
        start = time.perf_counter()
        hits = embeddings.search(query, job["k"])
        latency.append((time.perf_counter() - start) * 1000)
        ranked.append([ids[int(h[0])] for h in hits])
    json.dump({"ranked": ranked, "latency_ms": latency}, sys.stdout)


if __name__ == "__main__":
    main()
