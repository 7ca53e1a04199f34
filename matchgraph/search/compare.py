""""A vs B": the seed table, capability alignment, match-graph evidence and a verdict from the scores."""

from __future__ import annotations

import heapq

import numpy as np

from ..core.arrays import row_entries
from ..core.catalog import Artifact
from ..core.results import AlignedPair, CapabilityOut, Comparison, MatchEvidence, PastQuery, ScoreCard, Side, TableRow
from ..graph.match_graph import MatchGraph
from ..retrieval.ann import float_rows
from ..retrieval.index import LoadedIndex

SCORE_ROWS = (("Adoption", "adoption"), ("Quality", "quality"), ("Ecosystem", "ecosystem"),
              ("Match Graph", "match_graph"))
VERDICT_NAMES = {"adoption": "adoption", "quality": "quality", "ecosystem": "ecosystem",
                 "match_graph": "match graph standing", "freshness": "freshness"}


def _leader(a: float, b: float) -> str:
    return "tie" if a == b else ("a" if a > b else "b")


def _capabilities(artifact: Artifact) -> list[CapabilityOut]:
    return [CapabilityOut(**c.model_dump()) for c in artifact.capabilities]


def queries_of(mg: MatchGraph, artifact_id: str) -> dict[str, tuple[int, int]]:
    """Past queries (representative text) that matched the artifact -> (matches, selects).

    Read from the artifact's column of the weight matrix: O(its queries), not O(all edges).
    """
    pos = mg.index.position.get(artifact_id)
    if pos is None or not mg.queries:
        return {}
    by_artifact = mg.weights_by_artifact
    rows = row_entries(by_artifact, pos)[0]
    found = {}
    for row in rows.tolist():
        query = mg.queries[row]
        counts = mg.edges.get((query, artifact_id))
        if counts is not None:
            found[query] = counts
    return found


def most_matched(queries: dict[str, tuple[int, int]], limit: int) -> list[PastQuery]:
    """The `limit` queries with the most matches (ties by text); a partial sort, so an artifact
    asked about by a hundred thousand queries costs O(n log limit)."""
    top = heapq.nsmallest(limit, queries.items(), key=lambda item: (-item[1][0], item[0]))
    return [PastQuery(query=q, similarity=1.0, matches=m, selects=s) for q, (m, s) in top]


def align(index: LoadedIndex, a: Artifact, b: Artifact, threshold: float
          ) -> tuple[list[AlignedPair], list[str], list[str]]:
    """Greedy one-to-one pairing of A's and B's capabilities by cosine, best pairs first."""
    rows_a, rows_b = index.cap_rows[a.id], index.cap_rows[b.id]
    sims = float_rows(index.vectors, rows_a) @ float_rows(index.vectors, rows_b).T
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(-sims, axis=None):
        i, j = divmod(int(flat), sims.shape[1])
        if sims[i, j] < threshold:
            break
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        ca, cb = a.capabilities[i], b.capabilities[j]
        pairs.append(AlignedPair(a=ca.id, a_title=ca.title, b=cb.id, b_title=cb.title,
                                 similarity=round(float(sims[i, j]), 3)))
    unique_a = [c.id for i, c in enumerate(a.capabilities) if i not in used_a]
    unique_b = [c.id for j, c in enumerate(b.capabilities) if j not in used_b]
    return pairs, unique_a, unique_b


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


PRICE_WORDS = {"free": "is free", "freemium": "has a free tier with paid plans", "paid": "is paid",
               "unknown": "does not state its pricing"}
BOTH_PRICED = {"free": "Both are free.", "freemium": "Both have a free tier with paid plans.",
               "paid": "Both are paid.", "unknown": "Neither states its pricing."}


def _lower_first(title: str) -> str:
    """'Handwritten text recognition' -> 'handwritten text recognition'; 'OCR for ...' stays."""
    return title[:1].lower() + title[1:] if title[1:2].islower() else title


def purpose(artifact: Artifact) -> str:
    """What an artifact is for, in a few words: its task and its first capability."""
    first = _lower_first(artifact.capabilities[0].title)
    return f"{artifact.task.replace('-', ' ')} ({first})" if artifact.task else first


def pricing_sentence(a: Artifact, b: Artifact) -> str:
    """What is true of both prices: "Both are free.", "A is free, while B is paid." """
    if a.pricing == b.pricing:
        return BOTH_PRICED[a.pricing]
    return f"{a.name} {PRICE_WORDS[a.pricing]}, while {b.name} {PRICE_WORDS[b.pricing]}."


def verdict(a: Artifact, b: Artifact, sa: dict, sb: dict, shared: bool = True) -> str:
    """A sentence in the seed's shape; ties are called ties, "stronger" only on a higher score.
    When the two share no capability (`shared` False), it says first that they do different
    things and what each is for: a higher score then does not make one the better choice."""
    text = ""
    if not shared:
        text = (f"{a.name} and {b.name} do different things (no shared capability): {a.name} is for "
                f"{purpose(a)}, {b.name} for {purpose(b)}; pick by the job. On the scores, ")
    if sa["rank"] == sb["rank"]:
        text += f"{a.name} and {b.name} tie at {sa['rank']}/100."
    else:
        hi, lo, shi, slo = (a, b, sa, sb) if sa["rank"] > sb["rank"] else (b, a, sb, sa)
        text += f"{hi.name} scores higher at {shi['rank']}/100 vs {lo.name} at {slo['rank']}/100."
    a_leads = [VERDICT_NAMES[k] for k in VERDICT_NAMES if sa[k] > sb[k]]
    b_leads = [VERDICT_NAMES[k] for k in VERDICT_NAMES if sb[k] > sa[k]]
    if a_leads and b_leads:
        text += f" {a.name} leads on {_join(a_leads)}, while {b.name} is stronger on {_join(b_leads)}."
    elif a_leads or b_leads:
        who, what = (a, a_leads) if a_leads else (b, b_leads)
        text += f" {who.name} leads on {_join(what)}; the other sub-scores are tied."
    else:
        text += " Every sub-score is tied."
    return f"{text} {pricing_sentence(a, b)}"


def compare(index: LoadedIndex, mg: MatchGraph, scores: dict[str, dict], a: Artifact, b: Artifact,
            config: dict) -> Comparison:
    sa, sb = scores[a.id], scores[b.id]
    table = [TableRow(feature="Type", a=a.kind.capitalize(), b=b.kind.capitalize(), leader=None),
             TableRow(feature="Rank", a=f"{sa['rank']}/100", b=f"{sb['rank']}/100",
                      leader=_leader(sa["rank"], sb["rank"]))]
    table += [TableRow(feature=label, a=str(sa[key]), b=str(sb[key]), leader=_leader(sa[key], sb[key]))
              for label, key in SCORE_ROWS]
    table += [TableRow(feature="Pricing", a=a.pricing.capitalize(), b=b.pricing.capitalize(), leader=None),
              TableRow(feature="Capabilities", a=f"{len(a.capabilities)} decomposed",
                       b=f"{len(b.capabilities)} decomposed", leader=None),
              TableRow(feature="Times Matched", a=str(sa["times_matched"]), b=str(sb["times_matched"]),
                       leader=_leader(sa["times_matched"], sb["times_matched"]))]
    pairs, unique_a, unique_b = align(index, a, b, config["compare"]["shared_min"])
    qa, qb = queries_of(mg, a.id), queries_of(mg, b.id)
    limit = config["compare"]["evidence"]
    evidence = MatchEvidence(
        both=most_matched({q: (qa[q][0] + qb[q][0], qa[q][1] + qb[q][1]) for q in qa.keys() & qb.keys()},
                          limit),
        only_a=most_matched({q: v for q, v in qa.items() if q not in qb}, limit),
        only_b=most_matched({q: v for q, v in qb.items() if q not in qa}, limit))
    caps_a, caps_b = _capabilities(a), _capabilities(b)
    return Comparison(
        a=_side(a, sa, caps_a), b=_side(b, sb, caps_b), table=table, verdict=verdict(a, b, sa, sb, bool(pairs)),
        shared=pairs, unique_a=[c for c in caps_a if c.id in unique_a],
        unique_b=[c for c in caps_b if c.id in unique_b], evidence=evidence)


def _side(artifact: Artifact, score: dict, capabilities: list[CapabilityOut]) -> Side:
    return Side(id=artifact.id, name=artifact.name, kind=artifact.kind, pricing=artifact.pricing,
                task=artifact.task, url=artifact.url, scores=ScoreCard(**score), capabilities=capabilities)
