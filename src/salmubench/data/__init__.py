"""SALMUBench data: the on-disk layout, the loader and (in ``generate``) the synthetic generator.

No torch import here: data work stays light.
"""

from salmubench.data.dataset import SalmuDataset
from salmubench.data.loading import load_dataset
from salmubench.data.tables import SplitTable

__all__ = ["SalmuDataset", "SplitTable", "load_dataset"]
