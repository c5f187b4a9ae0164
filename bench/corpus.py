"""The seeded conversation text, shared by GLM Chat's seeding and the naive app's ?seed=N.

No Streamlit or app imports: bench/naive_app.py imports this file by path.
Each message is about 80 characters (about 24 estimated tokens with framing), with a little Markdown,
so 5,000 messages (about 120K tokens) still fit a 128K-token context window in one request.
"""

from __future__ import annotations

TOPICS = (
    "the cache",
    "the parser",
    "the backup job",
    "the login page",
    "the report",
    "the queue",
    "the exporter",
    "the importer",
    "the scheduler",
    "the search index",
)


def text(i: int) -> tuple[str, str]:
    """(role, content) of message i of a seeded conversation: user and assistant turns alternate."""
    topic = TOPICS[i % len(TOPICS)]
    if i % 2 == 0:
        return "user", f"Question {i}: how does {topic} behave in step {i // 2}, and what should I check?"
    return "assistant", f"Answer {i}: {topic} **retries** once, then logs `err_{i}`; check item {i + 1} next."


def messages(n: int) -> list[dict]:
    """The naive app's plain {"role", "content"} history."""
    return [dict(zip(("role", "content"), text(i), strict=False)) for i in range(n)]
