"""Runtime adapters: each turns an artifact into a Predictor with `predict(batch) -> outputs`."""
