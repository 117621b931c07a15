"""Google's side of the sandbox: the OAuth token endpoint, Gmail (API, batch, payloads, the `q`
query language) and Google Calendar, all over the shared `sandbox.state.SandboxState`.

Nothing is imported here on purpose: import the module you need
(`from sandbox.google.gmail_payload import message_resource`), so importing the package never
drags the others in nor closes an import cycle.
"""
