"""The deterministic world model both providers serve: tenants, their CRM, mailboxes, messages
and calendars, and the ids each provider gives them.

Imports point one way: `model` (records and shared constants) and the id and format helpers
(`msids`, `calendar_ids`, `message_ids`, `rfc822`, `mailgen`, `calendar_model`, `event_spec`)
sit at the bottom; `tenant_mail` and `calendargen` build on them; `generate` drives them all.
Provider packages (`sandbox.google`, `sandbox.microsoft`) and the state import from here, never
the other way round. Nothing is imported here on purpose: import the module you need
(`from sandbox.workload.generate import generate_workload`).
"""
