"""Local stand-in for Google's (later Microsoft's) OAuth and mail APIs, with a synthetic workload.

Quick start::

    from sandbox.server import SandboxServer
    from sandbox.workload import generate_workload, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET

    with SandboxServer(generate_workload(seed=7)) as server:
        base = server.base_url            # token: base + "/token", Gmail: base + "/gmail/v1/..."
        server.state.truth(address, start, end)
        server.state.set_fault(address, "rate_limit", count=3)

Or as a process: `python -m sandbox serve --port 8765`, driven by `sandbox.client.SandboxClient`.
"""
