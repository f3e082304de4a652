"""The phone front door: voice menu, status by phone, voicemail to a concern, after-hours
routing to the security desk, two-way SMS; TwiML webhooks, signed."""
