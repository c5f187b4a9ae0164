"""The GLM API simulator: the offline demo's model and the tests' upstream (run: python -m glmsim.simulator).

The app imports it only at the offline demo's entry point (glmchat.chat.client.Endpoint.offline).
"""
