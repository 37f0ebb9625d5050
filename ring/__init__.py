"""The ring: where every byte lives (placement math, ring and builder files, the `dolmen ring` CLI)."""
