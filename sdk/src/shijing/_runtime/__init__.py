"""The hand-written runtime under the generated code: transport, retries, auth, errors, pages.

Nothing here is written by the generator; ``shijing/_generated`` calls into it.
"""
