"""A folder of documents made searchable: every document cut into overlapping windows of the
model's length (`Pipeline.embed_chunks`), each window's vector and character span stored, and
a query answered with the documents whose windows are nearest, by the model's own similarity.

    >>> import bertkit
    >>> from bertkit.retrieval import build_index, Index
    >>> model = bertkit.load()
    >>> build_index(model, ["/usr/share/common-licenses"], "licences.index")   # doctest: +SKIP
    >>> Index.load("licences.index").search(model, "can I sell copies?", top_k=3)   # doctest: +SKIP

On disk (`DIR/`): `index.json` (the model, its embedding settings, the documents with their
sizes and SHA-256, the window settings), `vectors.npy` (windows x dim, float32) and
`windows.npy` (windows x 3: document, start, end characters). For corpora too big to hold in
memory, `bertkit embed --input FILE --output DIR` streams instead.
"""

from bertkit.retrieval.index import Index, build_index, read_documents

__all__ = ["Index", "build_index", "read_documents"]
