"""Local stand-in for Google's and Microsoft's identity, mail and calendar APIs, with a synthetic
workload (see sandbox/README.md).

Quick start::

    from sandbox.server import SandboxServer
    from sandbox.workload.generate import generate_workload
    from sandbox.workload.model import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET

    with SandboxServer(generate_workload(seed=7, providers=("google", "microsoft"))) as server:
        base = server.base_url
        # Google token: base + "/token"; Gmail: base + "/gmail/v1/..."; Calendar:
        # base + "/calendar/v3/..."; Entra: base + "/{tenant}/oauth2/v2.0/token"; Graph:
        # base + "/v1.0/..."
        server.state.truth(address, start, end)
        server.state.truth_events(address, start, end)
        server.state.set_fault(address, "rate_limit", count=3)

Or as a process: `python -m sandbox serve --port 8765`, driven by `sandbox.client.SandboxClient`.

Layout: `sandbox.google` (OAuth token endpoint, Gmail, Calendar), `sandbox.microsoft` (Entra ID,
Graph), `sandbox.workload` (the deterministic world model), and the shared core here at the top
(server, HTTP plumbing, state, faults, quota, stats, control API). This file imports nothing, so
importing any submodule never runs the others.
"""
