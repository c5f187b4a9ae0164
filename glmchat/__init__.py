"""GLM Chat: a Streamlit chat app for ZhipuAI's GLM models."""
