"""The bureau's front doors: web, email and phone, each a client of the services' HTTP APIs."""
