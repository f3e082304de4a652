"""The staff console under /staff: sign-in with the district's OpenID Connect provider, work
queue, case page, call-center entry, the Ombudsperson's view."""

from frontends.web.staff.routes import install

__all__ = ["install"]
