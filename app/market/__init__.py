"""The secondary market: investors list units of their holdings, others buy them outright or make prefunded offers;
settlement moves money and units in one transaction."""
from app.market import handlers  # noqa: F401 - connects the market to the property signals
