"""The :class:`SalmuDataset` model: a dataset directory's splits and metadata, its derived subsets
(SALMUBENCH.md §3) and views with replaced splits."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salmubench.data import schema as S
from salmubench.data.fingerprint import dataset_fingerprint
from salmubench.data.tables import SplitTable
from salmubench.errors import DataError
from salmubench.io_utils import sha256_bytes


@dataclass
class SalmuDataset:
    """A SALMUBench dataset directory: splits, metadata and derived subsets (SALMUBENCH.md §3).

    Extra splits (``general_retain``, ``zeroshot``) exist only in datasets we generate; code that
    needs them must handle their absence on the released data.
    """

    root: Path
    splits: dict[str, SplitTable]
    identities: dict[str, dict[str, Any]]
    captions_metadata: dict[str, dict[str, str]]
    generic_captions: dict[str, str]
    fragile_ids: list[str] | None = None
    manifest: dict[str, Any] | None = None
    zeroshot_classes: dict[str, Any] | None = None
    _fingerprint: str | None = field(default=None, repr=False)

    # ---- released splits and our extras ----
    def split(self, name: str) -> SplitTable:
        """A split or derived subset by name (see schema.py); DataError if unavailable."""
        if name in self.splits:
            return self.splits[name]
        derived = {
            S.RETAIN_JOINT: lambda: self.retain_joint,
            S.RETAIN_DISJOINT: lambda: self.retain_disjoint,
            S.FORGET_IDENTITY: lambda: self.forget_identity,
            S.FRAGILE_SET: lambda: self.fragile_set,
        }
        if name in derived:
            return derived[name]()
        raise DataError(f"{self.root}: no split {name!r} (have: {', '.join(sorted(self.splits))})")

    @property
    def forget(self) -> SplitTable:
        return self.split(S.FORGET)

    @property
    def holdout_association(self) -> SplitTable:
        return self.split(S.HOLDOUT_ASSOCIATION)

    @property
    def holdout_identity(self) -> SplitTable:
        return self.split(S.HOLDOUT_IDENTITY)

    @property
    def retain_synth(self) -> SplitTable:
        return self.split(S.RETAIN_SYNTH)

    def has_split(self, name: str) -> bool:
        return name in self.splits

    # ---- derived subsets ----
    @property
    def forget_identity_ids(self) -> set[str]:
        """Identities with at least one row in ``forget``."""
        return {i for i in self.forget.identity_ids if i}

    @property
    def retain_joint(self) -> SplitTable:
        """retain_synth rows showing a forget identity (their faces with generic captions)."""
        ids = self.forget_identity_ids
        return self.retain_synth.where([i in ids for i in self.retain_synth.identity_ids], S.RETAIN_JOINT)

    @property
    def retain_disjoint(self) -> SplitTable:
        """retain_synth rows with no identity (non-person images)."""
        return self.retain_synth.where([i is None for i in self.retain_synth.identity_ids], S.RETAIN_DISJOINT)

    @property
    def forget_identity(self) -> SplitTable:
        """forget rows of identities absent from holdout_association (fully forgotten people)."""
        partial = {i for i in self.holdout_association.identity_ids if i}
        return self.forget.where([i not in partial for i in self.forget.identity_ids], S.FORGET_IDENTITY)

    @property
    def fragile_set(self) -> SplitTable:
        """retain_synth rows listed in fragile_set_ids.json; DataError if that file is absent."""
        if self.fragile_ids is None:
            raise DataError(f"{self.root}: no {S.FRAGILE_IDS_JSON} (train the Compromised model first)")
        wanted = set(self.fragile_ids)
        return self.retain_synth.where([f in wanted for f in self.retain_synth.file_names], S.FRAGILE_SET)

    # ---- metadata helpers ----
    def attribute_of(self, file_name: str) -> str | None:
        """Canonical attribute type (data_field) of a sensitive image, or None if unknown."""
        meta = self.captions_metadata.get(file_name)
        return S.canonical_attribute(meta["data_field"]) if meta and meta.get("data_field") else None

    def identity_value(self, identity_id: str, attribute: str) -> str | None:
        """The identity's value for an attribute type (first one if the field holds a list)."""
        record = self.identities.get(identity_id) or {}
        value = record.get(S.IDENTITY_FIELD.get(attribute, attribute))
        if isinstance(value, list):
            value = value[0] if value else None
        return None if value is None else str(value)

    @property
    def fingerprint(self) -> str:
        """sha256 identifying the data: of manifest.json when present, else of every file's hash."""
        if self._fingerprint is None:
            self._fingerprint = dataset_fingerprint(self.root)
        return self._fingerprint

    def with_splits(self, splits: dict[str, SplitTable], tag: str, drop: Collection[str] = ()) -> SalmuDataset:
        """A view of this dataset with ``splits`` replaced or added and ``drop`` removed (metadata shared).

        Its fingerprint is ``sha256(f"{self.fingerprint}:{tag}")``: views with the same tag are the same data.
        """
        kept = {k: v for k, v in self.splits.items() if k not in drop}
        digest = sha256_bytes(f"{self.fingerprint}:{tag}".encode())
        return dataclasses.replace(self, splits={**kept, **splits}, _fingerprint=digest)
