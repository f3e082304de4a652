"""`python -m frontends.email`: the email front door, HTTP on PORT (default 8005)."""

from frontends.common.serve import run
from frontends.email.app import create_app
from frontends.email.settings import EmailSettings

if __name__ == "__main__":
    run("email", EmailSettings(), create_app)
