"""Answers from measured configurations: Pareto frontiers, budget recommendation, iso-FLOPs
view and scaling-law fit. Every function takes a list of (Config, ConfigMetrics) pairs;
`source.load_results` opens a results store for the entry points."""
from speechbudget.analysis.isoflops import IsoFlopsBand, isoflops_bands
from speechbudget.analysis.pareto import (ErrorBar, FrontierResult, Point, frontiers,
                                         pareto_frontier, significant_frontier)
from speechbudget.analysis.limits import Limits
from speechbudget.analysis.recommend import NoResultsError, Recommendation, recommend
from speechbudget.analysis.scaling_fit import ScalingFit, fit_law
from speechbudget.analysis.scaling_law import FitError
from speechbudget.analysis.scaling_nested import NestedComparison, compare_nested
from speechbudget.analysis.scaling_predict import Prediction, predict_configs
from speechbudget.analysis.scaling_results import fit_results, fit_results_nested
from speechbudget.analysis.source import LoadedResults, load_results

__all__ = ["ErrorBar", "FitError", "FrontierResult", "IsoFlopsBand", "Limits", "LoadedResults",
           "NestedComparison", "NoResultsError", "Point", "Prediction", "Recommendation", "ScalingFit", "fit_law",
           "compare_nested", "fit_results", "fit_results_nested", "frontiers", "isoflops_bands", "load_results", "pareto_frontier",
           "predict_configs", "recommend", "significant_frontier"]
