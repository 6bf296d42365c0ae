"""The market's fixtures (holdings that can be listed at once) serve the closing tests too."""
from tests.market.conftest import make_tradable, tradable  # noqa: F401
