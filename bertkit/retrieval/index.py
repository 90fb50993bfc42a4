"""Build, store, load and search an index of a folder's documents (see the package docstring)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bertkit.errors import CheckpointError, InputError
from bertkit.tasks import chunking

FORMAT = "bertkit-index"
VERSION = 1


@dataclasses.dataclass
class Documents:
    paths: list[Path]
    texts: list[str]
    skipped: list[tuple[Path, str]]  # (path, why): not UTF-8 text, empty, ...


def read_documents(sources: Sequence[str | Path], suffixes: Sequence[str] | None = None) -> Documents:
    """The text files under `sources` (files as given; folders walked in sorted order, hidden
    entries left out, and with `suffixes` only files ending so, e.g. (".md", ".txt")), each
    read whole as UTF-8. A file that is not UTF-8 text, holds nothing but white space, or is
    a link to a file already read is skipped and listed with the reason."""
    found = Documents([], [], [])
    seen: dict[Path, Path] = {}  # resolved path -> the path it was read as
    for source in sources:
        source = Path(source)
        if not source.exists():
            raise InputError(f"{source}: no such file or folder")
        if source.is_file():
            candidates = [source]
        else:
            candidates = sorted(
                path
                for path in source.rglob("*")
                if path.is_file()
                and not any(part.startswith(".") for part in path.relative_to(source).parts)
                and (suffixes is None or path.name.lower().endswith(tuple(suffixes)))
            )
        for path in candidates:
            real = path.resolve()
            if real in seen:
                found.skipped.append((path, f"the same file as {seen[real]}"))
                continue
            seen[real] = path
            data = path.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                found.skipped.append((path, "not UTF-8 text"))
                continue
            if "\x00" in text:
                found.skipped.append((path, "binary (holds NUL bytes)"))
            elif not text.strip():
                found.skipped.append((path, "empty"))
            else:
                found.paths.append(path)
                found.texts.append(text)
    return found


def build_index(
    model,
    sources: Sequence[str | Path],
    output: str | Path,
    window: int | None = None,
    stride: int = chunking.STRIDE,
    suffixes: Sequence[str] | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> Index:
    """Index the documents under `sources` with `model` (a `bertkit.load()` Pipeline) into the
    folder `output` (created; an existing index there is replaced)."""
    documents = read_documents(sources, suffixes)
    keep = [i for i, ids in enumerate(model.preprocessor.tokenize(documents.texts)) if ids]
    for i in sorted(set(range(len(documents.texts))) - set(keep)):
        documents.skipped.append((documents.paths[i], "makes no tokens"))
    paths = [documents.paths[i] for i in keep]
    texts = [documents.texts[i] for i in keep]
    if not texts:
        raise InputError(f"no text documents found under {', '.join(map(str, sources))}")
    declared = model.embedding.prompts if model.embedding is not None else {}
    prompt_name = next((name for name in ("document", "passage") if name in declared), None)
    chunks = model.embed_windows(
        texts, window=window, stride=stride, prompt_name=prompt_name, batch_size=batch_size, progress=progress
    )
    settings = model.embed_settings(prompt_name=prompt_name)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "model": str(model.encoder.source),
        "embedding": settings.describe(),
        "similarity": model.embedding.similarity_fn_name if model.embedding is not None else "cosine",
        "dim": int(chunks.vectors.shape[1]),
        "window": window,
        "stride": stride,
        "documents": [
            {
                "path": str(path.absolute()),
                "chars": len(text),
                "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            }
            for path, text in zip(paths, texts)
        ],
        "skipped": [{"path": str(path), "why": why} for path, why in documents.skipped],
    }
    windows = np.concatenate([chunks.text_index[:, None], chunks.spans], axis=1).astype(np.int64)
    index = Index(Path(output), manifest, chunks.vectors.astype(np.float32), windows)
    index.save()
    return index


@dataclasses.dataclass
class Index:
    directory: Path
    manifest: dict
    vectors: np.ndarray  # (windows, dim) float32
    windows: np.ndarray  # (windows, 3) int64: document, start, end

    @property
    def documents(self) -> list[dict]:
        return self.manifest["documents"]

    def save(self) -> None:
        """Write the three files, each through a temporary name, so a killed run leaves no half index."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, array in (("vectors.npy", self.vectors), ("windows.npy", self.windows)):
            with open(self.directory / f".{name}.tmp", "wb") as f:
                np.save(f, array)
            os.replace(self.directory / f".{name}.tmp", self.directory / name)
        tmp = self.directory / ".index.json.tmp"
        tmp.write_text(json.dumps(self.manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.directory / "index.json")  # last: its presence says the index is whole

    @classmethod
    def load(cls, directory: str | Path) -> Index:
        directory = Path(directory)
        path = directory / "index.json"
        if not path.is_file():
            raise InputError(f"{directory}: not an index (no index.json); make one with `bertkit index`")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            vectors = np.load(directory / "vectors.npy", mmap_mode="r")
            windows = np.load(directory / "windows.npy")
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{directory}: a damaged index ({e}); build it again") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a bertkit index")
        if manifest.get("version") != VERSION:
            raise CheckpointError(f"{path}: index version {manifest.get('version')}, this bertkit reads {VERSION}")
        if vectors.ndim != 2 or windows.shape != (len(vectors), 3) or vectors.shape[1] != manifest.get("dim"):
            raise CheckpointError(f"{directory}: vectors.npy and windows.npy disagree with index.json; build it again")
        return cls(directory, manifest, vectors, windows)

    def search(self, model, query: str, top_k: int = 5, per_document: bool = True) -> list[dict]:
        """The `top_k` best matches for `query`, best first: `{"score", "path", "start", "end",
        "text", "document"}`. `per_document`: each document once, at its best window."""
        if not isinstance(query, str) or not query.strip():
            raise InputError("the query is empty")
        if top_k < 1:
            raise InputError(f"top_k must be at least 1, got {top_k}")
        prompt_name = "query" if model.embedding is not None and "query" in model.embedding.prompts else None
        vector = model.embed([query], prompt_name=prompt_name, long="chunk")
        if vector.shape[1] != self.vectors.shape[1]:
            raise InputError(
                f"the model gives {vector.shape[1]}-dimensional vectors, the index holds "
                f"{self.vectors.shape[1]}; search with the model it was built with ({self.manifest['model']})"
            )
        scores = model.similarity(vector, np.asarray(self.vectors))[0]
        order = np.argsort(-scores, kind="stable")
        results, seen = [], set()
        for row in order:
            document, start, end = (int(v) for v in self.windows[row])
            if per_document and document in seen:
                continue
            seen.add(document)
            entry = self.documents[document]
            results.append(
                {
                    "score": float(scores[row]),
                    "path": entry["path"],
                    "start": start,
                    "end": end,
                    "text": _window_text(entry, start, end),
                    "document": document,
                }
            )
            if len(results) == top_k:
                break
        return results


def _window_text(entry: dict, start: int, end: int) -> str | None:
    """The window's characters, read again from the document; None when the file changed since."""
    try:
        text = Path(entry["path"]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if len(text) != entry["chars"] or hashlib.sha256(text.encode("utf-8")).hexdigest() != entry["sha256"]:
        return None
    return text[start:end]
