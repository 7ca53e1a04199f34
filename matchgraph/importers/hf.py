"""Hugging Face Hub model listings (+ optional model cards) -> model artifacts.

Input: what the Hub's model API returns (a JSON array, one object, or JSONL of model infos with
`id`/`modelId`, `pipeline_tag`, `library_name`, `tags`, `downloads`, `likes`, `lastModified`,
`createdAt`, `gated`, `cardData`) and, optionally, a folder of cards `<id>/README.md` (YAML front
matter + markdown). Decomposition, deterministic and without an LLM:

- the pipeline task is the main capability (inputs/outputs from the task);
- a card section that says what the model does (its lead, "Model description", "Overview",
  "Capabilities", ...) describes the main capability; each further such section with enough
  prose becomes a capability of its own;
- intended uses and languages go to the main capability's `best_for`, limitations and biases to
  its `vs_alternatives` ("when to pick something else"); how-to, training, evaluation and
  citation sections are not capabilities.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..core.catalog import Located, check_yaml_events
from ..core.validation import decode_error_line
from .common import Imported, ImportFailed, first_paragraph, json_path, read_bytes, read_document, slug, source_limits

# pipeline tag -> (title, inputs, outputs)
TASKS: dict[str, tuple[str, list[str], list[str]]] = {
    "text-classification": ("Text classification", ["text"], ["label"]),
    "token-classification": ("Token classification", ["text"], ["labels"]),
    "zero-shot-classification": ("Zero-shot text classification", ["text", "labels"], ["label"]),
    "question-answering": ("Question answering", ["text", "question"], ["text"]),
    "table-question-answering": ("Table question answering", ["table", "question"], ["text"]),
    "summarization": ("Summarization", ["text"], ["text"]),
    "translation": ("Translation", ["text"], ["text"]),
    "text-generation": ("Text generation", ["text"], ["text"]),
    "text2text-generation": ("Text-to-text generation", ["text"], ["text"]),
    "conversational": ("Conversational response generation", ["text"], ["text"]),
    "fill-mask": ("Fill in masked words", ["text"], ["text"]),
    "sentence-similarity": ("Sentence similarity", ["text"], ["score"]),
    "feature-extraction": ("Feature extraction (embeddings)", ["text"], ["embedding"]),
    "text-to-image": ("Image generation from text", ["text"], ["image"]),
    "image-to-text": ("Image to text", ["image"], ["text"]),
    "image-classification": ("Image classification", ["image"], ["label"]),
    "object-detection": ("Object detection", ["image"], ["boxes"]),
    "image-segmentation": ("Image segmentation", ["image"], ["mask"]),
    "depth-estimation": ("Depth estimation", ["image"], ["image"]),
    "image-to-image": ("Image to image", ["image"], ["image"]),
    "zero-shot-image-classification": ("Zero-shot image classification", ["image", "labels"], ["label"]),
    "visual-question-answering": ("Visual question answering", ["image", "question"], ["text"]),
    "document-question-answering": ("Document question answering", ["image", "question"], ["text"]),
    "automatic-speech-recognition": ("Speech recognition", ["audio"], ["text"]),
    "audio-classification": ("Audio classification", ["audio"], ["label"]),
    "text-to-speech": ("Speech synthesis", ["text"], ["audio"]),
    "text-to-audio": ("Audio generation from text", ["text"], ["audio"]),
    "audio-to-audio": ("Audio to audio", ["audio"], ["audio"]),
    "video-classification": ("Video classification", ["video"], ["label"]),
    "tabular-classification": ("Tabular classification", ["table"], ["label"]),
    "tabular-regression": ("Tabular regression", ["table"], ["number"]),
    "reinforcement-learning": ("Reinforcement learning policy", ["observation"], ["action"]),
}

# Card sections by what their heading says (checked in this order; first match wins).
SKIP = re.compile(r"how to (use|get started)|\busage\b|getting started|\binstall|\btraining\b|"
                  r"^train|fine-?tun|\beval|\bresults?\b|benchmark|\bmetrics?\b|citation|bibtex|"
                  r"\breferences?\b|acknowledg|\bcontact|\bauthors?\b|\blicen[cs]e|\btodo\b|"
                  r"changelog|environmental|carbon|hardware|\bcompute\b|preprocess|"
                  r"table of contents|model card|disclaimer|\bexamples?\b", re.I)
INTENDED = re.compile(r"intended", re.I)  # "Intended uses & limitations" is about uses first
LIMITS = re.compile(r"limitation|bias|risk|out-of-scope|out of scope|misuse|caveat|warning", re.I)
USES = re.compile(r"intended|\buses?\b|use cases?|languages?|direct use|downstream", re.I)
DOES = re.compile(r"description|overview|summary|about|introduction|capabilit|feature|what|details|"
                  r"model$|purpose|highlights|key", re.I)
MIN_WORDS = 12  # a section with less prose than this says too little to be a capability

_FRONT = re.compile(r"\A\s*---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def read_card(path: Path, limits: dict | None = None, within: Path | None = None
              ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(front matter, [(heading, prose)]) of a model card; the text before the first heading
    is the section ''. Code blocks, tables, images and link targets are left out of the prose.
    The card is read within the import's limits (size, nesting, no YAML aliases) and, with
    `within` (the cards folder), only when it resolves to a regular file under it."""
    data = read_bytes(path, limits, within)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"{path}: line {decode_error_line(data, exc)}: not UTF-8"]) from None
    meta: dict[str, Any] = {}
    match = _FRONT.match(text)
    if match:
        deepest = source_limits(limits)["source_depth"]
        try:
            check_yaml_events(match.group(1), deepest, "front matter", "limits.source_depth")
            meta = yaml.safe_load(match.group(1)) or {}
        except (yaml.YAMLError, Located) as exc:
            mark = getattr(exc, "problem_mark", None)
            offset = exc.line - 1 if isinstance(exc, Located) else (mark.line if mark else 0)
            line = text[: match.start(1)].count("\n") + offset + 1
            raise ImportFailed([f"{path}: line {line}: front matter is not valid YAML: "
                                f"{getattr(exc, 'problem', None) or exc}"]) from None
        if not isinstance(meta, dict):
            raise ImportFailed([f"{path}: front matter must be a mapping, got {type(meta).__name__}"])
        text = text[match.end():]
    sections: list[tuple[str, list[str]]] = [("", [])]
    in_code = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            continue
        heading = None if in_code else _HEADING.match(line)
        if heading:
            sections.append((heading.group(2).strip(), []))
        elif not in_code and not line.lstrip().startswith("|") and not re.match(r"^\s*-{3,}\|", line):
            sections[-1][1].append(line)
    return meta, [(title, _prose("\n".join(lines))) for title, lines in sections]


def _prose(markdown: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", markdown)           # images
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)           # links -> their text
    text = re.sub(r"<[^>]+>", " ", text)                           # html tags
    text = re.sub(r"[*_`]{1,3}", "", text)
    text = re.sub(r"^\s*[*+-]\s+", "", text, flags=re.M)
    return first_paragraph(" ".join(text.split()), 600)  # the whole section, folded to one paragraph


def _kind_of(heading: str) -> str:
    if not heading:
        return "does"
    for name, pattern in (("skip", SKIP), ("uses", INTENDED), ("limits", LIMITS), ("uses", USES),
                          ("does", DOES)):
        if pattern.search(heading):
            return name
    return "does"  # a heading of its own words ("DialoGPT", "FSMT") is the card's title


# A Hub dataset id ("multi_nli", "org/name"); cards also list URLs and markdown there, which are dropped.
DATASET_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [str(value)]
    return [str(v) for v in value if v is not None] if isinstance(value, list) else []


def model_record(info: dict[str, Any], place: str, card: Path | None, limits: dict | None = None,
                 cards: Path | None = None) -> dict[str, Any]:
    """One Hub model info (and its card, read from under the folder `cards`) -> an artifact record."""
    model_id = info.get("id") or info.get("modelId")
    if not isinstance(model_id, str) or not model_id.strip():
        raise ImportFailed([f"{place}: needs `id` (the Hub model id, e.g. org/name)"])
    meta, sections = read_card(card, limits, cards) if card else ({}, [])
    card_data = info.get("cardData") if isinstance(info.get("cardData"), dict) else {}
    meta = {**meta, **card_data}
    tags = _list(info.get("tags")) + [t for t in _list(meta.get("tags")) if t not in _list(info.get("tags"))]
    prefixed = {p: [t.split(":", 1)[1] for t in tags if t.startswith(p + ":")]
                for p in ("license", "dataset", "base_model", "language")}
    task = info.get("pipeline_tag") or meta.get("pipeline_tag")
    task = task if isinstance(task, str) and task else None
    title, inputs, outputs = TASKS.get(task or "", ((task or "model").replace("-", " ").capitalize(), [], []))

    does = [(h, t) for h, t in sections if _kind_of(h) == "does" and len(t.split()) >= MIN_WORDS]
    uses = " ".join(t for h, t in sections if _kind_of(h) == "uses" and t)
    limits = " ".join(t for h, t in sections if _kind_of(h) == "limits" and t)
    languages = _list(meta.get("language")) or prefixed["language"]
    if languages:
        uses = (uses + " " if uses else "") + "Languages: " + ", ".join(languages) + "."
    name = model_id.split("/")[-1]
    lead = does[0][1] if does else ""
    main = {"id": slug(task) if task else "main", "title": title,
            "description": lead or f"{title} with {name}.", "inputs": inputs, "outputs": outputs}
    if uses:
        main["best_for"] = first_paragraph(uses, 600)
    if limits:
        main["vs_alternatives"] = "Limitations: " + first_paragraph(limits, 600)
    capabilities = [main]
    taken = {main["id"]}
    for heading, prose in does[1:]:
        cap_id = slug(heading)
        while cap_id in taken:
            cap_id += "-2"
        taken.add(cap_id)
        capabilities.append({"id": cap_id, "title": heading, "description": prose})

    license_ = (prefixed["license"] or _list(meta.get("license")) or [None])[0]
    signals: dict[str, Any] = {}
    for key, target in (("downloads", "downloads"), ("likes", "likes")):
        if isinstance(info.get(key), int) and not isinstance(info.get(key), bool):
            signals[target] = info[key]
    for key, target in (("lastModified", "updated_at"), ("createdAt", "released_at")):
        if isinstance(info.get(key), str) and info[key]:
            signals[target] = info[key]
    library = info.get("library_name") or meta.get("library_name")
    if isinstance(library, str) and library:
        signals["integrations"] = [library]
    datasets = [d for d in prefixed["dataset"] or _list(meta.get("datasets")) if DATASET_ID.fullmatch(d)]
    if datasets:
        signals["datasets"] = datasets
    base = prefixed["base_model"] or _list(meta.get("base_model"))
    if base:
        signals["base_model"] = base
    gated = info.get("gated")
    if gated not in (None, False):
        signals["gated"] = gated
    plain_tags = [t for t in tags if ":" not in t]
    if gated not in (None, False):
        plain_tags.append("gated")
    return {"id": model_id, "name": name, "kind": "model", "pricing": "free",
            "provider": model_id.split("/")[0] if "/" in model_id else None,
            "url": f"https://huggingface.co/{model_id}", "license": license_, "task": task,
            "tags": list(dict.fromkeys(plain_tags)), "description": first_paragraph(lead, 300) or main["description"],
            "signals": signals, "capabilities": capabilities}


def import_hf(sources: list[Path], cards: Path | None = None, limits: dict | None = None) -> Imported:
    """Model infos from each source (JSON array/object or JSONL) -> artifacts; cards from `cards`
    (regular files under it only); config `limits`."""
    if cards is not None and not Path(cards).is_dir():
        raise ImportFailed([f"{cards}: the cards folder does not exist"])
    imported, problems = Imported(), []
    for source in sources:
        data = read_document(Path(source), limits)
        items = data if isinstance(data, list) else [data]
        for index, info in enumerate(items):
            place = f"{source}: {json_path([index])}" if isinstance(data, list) else str(source)
            if Path(source).suffix == ".jsonl":
                place = f"{source}: item {index + 1}"
            if not isinstance(info, dict):
                problems.append(f"{place}: expected a model info object, got {type(info).__name__}")
                continue
            model_id = info.get("id") or info.get("modelId")
            card = Path(cards) / str(model_id) / "README.md" if cards and isinstance(model_id, str) else None
            card = card if card is not None and (card.exists() or card.is_symlink()) else None  # read_bytes checks it
            try:
                record = model_record(info, place, card, limits, cards)
                imported.add(record, f"{place} (card {card})" if card else place)
            except ImportFailed as exc:
                problems.extend(exc.problems)
    if problems:
        raise ImportFailed(problems)
    return imported
