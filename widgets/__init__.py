"""Qt widgets of Filter Explorer: they render state and forward user intent; numerical work lives in ``app``."""
