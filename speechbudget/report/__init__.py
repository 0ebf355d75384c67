"""Plots and a self-contained HTML / Markdown report of a sweep's results."""
from speechbudget.report.build import build_report

__all__ = ["build_report"]
