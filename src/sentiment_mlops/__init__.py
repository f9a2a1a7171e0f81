"""sentiment-mlops."""
