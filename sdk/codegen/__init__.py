"""The SDK generator: ``openapi/openapi.yaml`` -> a small IR -> the ``_generated`` package and ``api.md``.

Run from ``sdk/``::

    python -m codegen            # regenerate src/shijing/_generated/ and api.md
    python -m codegen --check    # regenerate into a temporary directory; exit 1 on any difference

(or ``python sdk/codegen [--check]`` from the repository root). Output is deterministic: the
same spec gives byte-identical files whatever the hash seed or the machine.

What the contract cannot say is declared with ``x-sdk-*`` extensions on operations, never by
operation name in here (see ``spec.EXTENSIONS``).
"""
