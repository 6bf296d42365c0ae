"""Operations: what the platform records about its own running (beat jobs, failed tasks), the alerts raised to
the people on call, and the checks behind them."""
