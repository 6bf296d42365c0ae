"""Investing: investments, installments, return schedules, distributions and the secondary market."""
