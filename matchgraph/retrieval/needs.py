"""Multi-need requests: split a request that names several actions into one part per action, search
each part, and merge the rankings so that every action's best artifact reaches the top results.

"Create an account for Amy. Then retrieve the library's preservation strategies and export the
sales chart to PNG" needs three APIs; one vector for the whole text lands between them and the
top 10 often holds one or two. Splitting is deterministic (no model): sentences, then clauses at
sequence words ("then", "additionally", "finally", "after that", ";", ", and <verb>"), and a clause is
an *action* when, after its lead-in ("please", "I need to", "I need your help in", "after creating
the asset,"), it opens with a verb from ACTIONS (or its -ing form), or when it states a need without
one (NEED: "I need information about ...", "I am also interested in ..."). Clauses that are not
actions are details of the action before them ("The username should be 'smartypants'."), except a
closing thanks, which is dropped. A request with fewer than `needs_min_parts` actions is one need
and is searched as before: this is the gate that keeps single-need requests (most Hugging Face
model requests: "We are building an app. Classify the photos ...") unchanged.

Merge: round robin over the rankings, the whole request first (its top result stays the top
result), then each part's best not yet listed, then every ranking's second, and so on.

History (what was learned from the log: the adapter, the walk and its task level) applies to
a request of one action and to each part of a split request; the whole text of a request naming
several actions is ranked without history: ranked with it, it is pulled towards past requests that
shared one of its actions and their other artifacts (on seal-tools that cost coverage@10;
BENCHMARKS.md, issue 17). Ranking each part from the catalog alone, or twice (with and without
history), did no better on bench/crossval.py's train folds and was removed.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence, TypeVar

# Imperative verbs that open a request for an action. Deliberately generic (no domain words): a
# clause counts as a separate need only when it starts with one of these after its lead-in.
ACTIONS = frozenset("""
access add adjust allocate answer caption cluster compose correct draw illustrate paint
borrow discover explore know learn redeem research
activate conduct encode establish improve initiate mark receive resolve
paraphrase recognise recognize reply respond rewrite segment sketch speak analyse analyze annotate apply approve archive arrange assess assign
authenticate backup book buy calculate call cancel categorize change check classify close collect
compare compile compress compute configure confirm convert copy count create decrypt delete deploy
describe design detect determine diagnose disable display download draft edit enable encrypt enroll
estimate evaluate execute explain export extract fetch filter find forecast format gather generate
get give identify import inspect install investigate invite issue launch list locate log look
lookup make manage map measure merge modify monitor move notify obtain open optimize order parse
pay perform plan play post predict print process provide publish purchase query rank rate read
recommend record register reject remove rename render rent replace report request reserve reset
resize restore retrieve review run save scan schedule search send set share show simulate sort
start stop store submit subscribe suggest summarize summarise tag test tell track train transcribe
transfer transform translate tune update upload validate verify view write
""".split())

SEQUENCE = (r"first(?:ly)?|second(?:ly)?|third(?:ly)?|then|next|after that|afterwards?|additionally|"
            r"also|finally|lastly|moreover|furthermore|besides|in addition|meanwhile|and|but|now")
# Lead-ins stripped before looking for the verb, one at a time until none applies
# ("Finally, please also ...").
LEAD_INS = [re.compile(p, re.I) for p in (
    rf"^(?:{SEQUENCE})\b,?\s*",
    r"^(?:please|kindly|just)\b,?\s*",
    r"^(?:can|could|would|will) you(?: please)?(?: help me)?\s+(?:to\s+)?",
    r"^(?:i|we)(?:'d| would| will| also| really)* (?:like|love|want|need|have|wish|intend|plan)"
    r"(?: you)? to\s+",
    r"^(?:i|we)(?: also)? (?:need|want|require|would like|'d like)(?: your| some)? (?:help|assistance|support|"
    r"expertise)(?: (?:with|in|to|for))?\s+",
    r"^(?:i|we) (?:also )?(?:need|want|require) (?:you )?(?:to )?",
    r"^(?:i|we) (?:will|shall)(?: also)?(?: need to)?\s+",
    r"^(?:proceed|go ahead|continue) (?:to|and)\s+",
    r"^(?:(?:help|assist) me(?: (?:in|with|to))?|let's|let us|make sure to|be sure to|don't forget to|"
    r"remember to)\s+",
    r"^(?:after|once|when|before|if|upon|as soon as)\b[^,]{0,120},\s*",
    r"^(?:it would be great if you could|(?:i|we)(?:'d| would) appreciate it if you (?:could|can))\s+",
)]
# A need stated without a verb ("I am also interested in ...", "I need information about ..."): the
# clause is an action, the rest of it is what is asked for.
NEED = re.compile(r"^(?:(?:i|we)(?:'m| am| are)(?: also| particularly| really| especially)? (?:interested in|"
                  r"curious about|looking for)|(?:i|we)(?: also)? (?:need|want|require|would like|'d like) "
                  r"(?:some |more |the )?(?:information|details|data|insights?|an overview) (?:about|on|regarding|of|"
                  r"for))\s+", re.I)
SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
# Clause boundaries inside a sentence: "; ", ", then", " and then ", ", after that", ", additionally".
CLAUSE = re.compile(r";\s+|,?\s+(?:and\s+)?then\b,?\s+|,\s+(?=(?:and\s+)?(?:after that|afterwards?|"
                    r"additionally|finally|lastly|also|in addition)\b)", re.I)
AND_VERB = re.compile(r",?\s+and\s+(?=(?:please\s+)?(?:also\s+)?([a-z]+)\b)", re.I)
# After "and", these hand over the result of the action before them ("analyze the nutrition of an
# apple and provide the number of calories"): one need, not two. On seal-tools' train requests,
# "and provide" was the most frequent and-split (35) and split off a detail; not splitting there
# made 10 more requests split into as many parts as they need APIs, 11 fewer into more.
REPORTING = frozenset({"provide", "tell"})
WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
# A sentence that only thanks ("Thank you for your help!") is neither an action nor a detail of the
# one before it; kept, it joined the last part and pulled its ranking (27 of seal-tools' 700 train
# requests end with one).
COURTESY = re.compile(r"^(?:thanks?(?: you)?(?: (?:so|very) much)?(?: (?:in advance|a lot))?"
                      r"(?: for (?:your|the|all your) (?:help|assistance|time|support|cooperation))?"
                      r"|(?:i|we)(?: really| truly)? appreciate (?:it|your (?:help|assistance|time|support))"
                      r"|much appreciated|cheers)[\s.!]*$", re.I)


def _action(clause: str) -> str | None:
    """The clause from its verb on, after its lead-ins ("Finally, please ..."), when that verb is
    an action; else None."""
    text = clause.strip(" ,.;:!?\"'")
    for _ in range(12):
        need = NEED.match(text)  # after every lead-in, before "I need ..." is taken for one
        if need:
            return text[need.end():]
        for pattern in LEAD_INS:  # one lead-in at a time: "Finally, I need information about ..."
            stripped = pattern.sub("", text, count=1)
            if stripped != text:
                text = stripped
                break
        else:
            break
    word = WORD.match(text)
    return text if word and _is_action(word.group(0).lower()) else None


def _is_action(word: str) -> bool:
    """An action verb, or its -ing form ("gathering", "calculating", "getting")."""
    if word in ACTIONS:
        return True
    stem = word[:-3] if word.endswith("ing") else ""
    return bool(stem) and (stem in ACTIONS or stem + "e" in ACTIONS or stem[:-1] in ACTIONS)


def _split_and(clause: str) -> list[str]:
    """Split at ", and <verb>" / " and <verb>" where the verb is an action ("create a logo ... and
    submit an inquiry"); "and" between nouns stays, and so does "and" before a REPORTING verb."""
    pieces, start = [], 0
    for m in AND_VERB.finditer(clause):
        verb = m.group(1).lower()
        if _is_action(verb) and verb not in REPORTING and m.start() > start:
            pieces.append(clause[start:m.start()])
            start = m.end()
    pieces.append(clause[start:])
    return [p for p in pieces if p.strip()]


def split_needs(request: str, min_parts: int = 2, min_words: int = 3) -> list[str]:
    """The request's parts, one per action (each with the detail sentences after it), or [] when
    it names fewer than `min_parts` actions. An action of fewer than `min_words` words from its verb
    on ("analyze and classify these videos": "analyze") is not a need of its own but part of the
    next one."""
    clauses = []
    for sentence in SENTENCE.split(request.strip()):
        for clause in CLAUSE.split(sentence):
            clauses.extend(_split_and(clause))
    parts: list[str] = []
    pending = ""  # a too-short action, carried into the next clause
    for clause in clauses:
        clause = clause.strip()
        if not clause or COURTESY.match(clause):
            continue
        action = _action(clause)
        if action and len(WORD.findall(action)) < min_words:
            pending = f"{pending} {clause}".strip()
        elif action:
            parts.append(f"{pending} {clause}".strip())
            pending = ""
        elif parts:  # a detail of the action before it
            parts[-1] = f"{parts[-1]} {clause}"
    return parts if len(parts) >= min_parts else []


T = TypeVar("T")

# What a ranked text is, for the history it gets (see the module docstring).
REQUEST, SEVERAL, ACTION = "request", "several actions", "action"


def merge_rankings(rankings: Sequence[Sequence[T]], key: Callable[[T], str], k: int) -> list[T]:
    """Round robin over `rankings` (the whole request's first), skipping items already taken
    (by `key`), until `k` items are taken or all rankings are spent."""
    out, seen = [], set()
    for depth in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if depth < len(ranking) and key(ranking[depth]) not in seen:
                seen.add(key(ranking[depth]))
                out.append(ranking[depth])
                if len(out) == k:
                    return out
    return out


def search_needs(request: str, vector, k: int, run: Callable[[str, object, int, str], list],
                 encode: Callable[[list[str]], Sequence], min_parts: int) -> list:
    """Results for `request` whose query vector is `vector` (dim,): `run(text, vector, k, role)`
    ranks one text (search.search with everything else bound) with the history its role gets
    (REQUEST, SEVERAL or ACTION; SEVERAL gets none). A request of `min_parts` or more actions (0:
    never split) is ranked whole (SEVERAL) and each part (ACTION), encoded by `encode(texts)` ->
    (n, dim); the rankings are merged (merge_rankings), positions renumbered from 1."""
    parts = split_needs(request, min_parts) if min_parts > 0 else []
    whole = run(request, vector, k, SEVERAL if parts else REQUEST)
    if not parts or not whole:
        return whole
    rankings = [whole] + [run(part, v, k, ACTION) for part, v in zip(parts, encode(parts))]
    merged = merge_rankings(rankings, key=lambda r: r.artifact_id, k=k)
    return [r.model_copy(update={"position": i}) for i, r in enumerate(merged, start=1)]
