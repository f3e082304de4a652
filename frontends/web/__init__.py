"""The family web: concern form, status page, replies, reopen and survey, in the family's
language (server-rendered HTML, works without JavaScript)."""
