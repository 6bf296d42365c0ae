"""Investing: investments, installments, return schedules, distributions and the secondary market."""
from app.investing import handlers  # noqa: F401 - connects investing to the property signals
