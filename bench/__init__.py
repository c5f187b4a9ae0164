"""Performance benchmark of GLM Chat against a naive Streamlit chat app; run `python -m bench.run`."""
