"""Telling people about incidents: the settings, the facts an alert carries, the message in plain
words, the reconnect link, and the SMTP and webhook resources that deliver it.

Nothing here decides *when* to notify (sensors/alert_policy.py does); everything here is what a
notification is made of and how it leaves. No token, secret or provider text enters a message:
causes are worded from our own status and cause codes only.
"""
