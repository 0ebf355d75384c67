"""Paired comparison of two configurations on the same items: the implementation lives in
`speechbudget.paired` (below the sweep, which races configurations with it); re-exported here
beside the other analyses."""
from speechbudget.paired import (BALANCED_METRICS, RATE_METRICS, PairedDifference, PairedItems,
                                 corpus_error, pair_items, paired_difference,
                                 permutation_pvalue)

__all__ = ["BALANCED_METRICS", "RATE_METRICS", "PairedDifference", "PairedItems", "corpus_error",
           "pair_items", "paired_difference", "permutation_pvalue"]
