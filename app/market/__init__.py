"""The secondary market: investors list units of their holdings, others buy them outright or make prefunded offers;
settlement moves money and units in one transaction."""
