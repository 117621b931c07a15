"""Microsoft's side of the sandbox: the Entra ID (v2.0) identity platform and Microsoft Graph
(mail, mail folders, calendarView, `$batch`, Outlook's throttling), over the shared
`sandbox.state.SandboxState`.

Nothing is imported here on purpose: import the module you need
(`from sandbox.microsoft.graph_api import GraphProvider`), so importing the package never drags
the others in nor closes an import cycle.
"""
