"""The naive reference chat app: the Streamlit docs' chat pattern, pointed at the same simulator.

History lives in st.session_state; every rerun redraws every message with st.chat_message + st.markdown;
the reply streams with st.write_stream over a generator of chunk.choices[0].delta.content from the real
zhipuai SDK (a raw zhipuai stream is not understood by st.write_stream: notes §11, pitfall 2).
A sidebar model selectbox gives the same kind of widget rerun as GLM Chat's.

Bench-only: `?seed=N` fills a new session's history with N messages from bench/corpus.py.
Environment: ZHIPUAI_API_KEY, ZHIPUAI_BASE_URL (the simulator).
"""

import os
import sys
from pathlib import Path

import streamlit as st
from zhipuai import ZhipuAI

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

MODELS = ["glm-4.5-flash", "glm-4-flash", "glm-4-air", "glm-4-plus"]

st.title("Naive GLM chat")
model = st.sidebar.selectbox("Model", MODELS, key="model")


@st.cache_resource
def client() -> ZhipuAI:
    return ZhipuAI(api_key=os.environ["ZHIPUAI_API_KEY"], base_url=os.environ.get("ZHIPUAI_BASE_URL") or None)


if "messages" not in st.session_state:
    seed = st.query_params.get("seed", "0")
    st.session_state.messages = corpus.messages(int(seed) if seed.isdigit() else 0)

for message in st.session_state.messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])

if prompt := st.chat_input("Message GLM…"):
    st.session_state.messages.append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(prompt)
    with st.chat_message("assistant"):
        stream = client().chat.completions.create(model=model, messages=st.session_state.messages, stream=True)

        def deltas():
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

        response = st.write_stream(deltas())
    st.session_state.messages.append({"role": "assistant", "content": response})
