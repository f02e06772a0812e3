"""Pure pandas / pyarrow / scikit-learn code: never imports Django."""
