"""SALMUBench data: the on-disk layout, the loader and (in ``generate``) the synthetic generator.

No torch import here: data work stays light.
"""

from salmubench.data.io import SalmuDataset, SplitTable, load_dataset

__all__ = ["SalmuDataset", "SplitTable", "load_dataset"]
