"""`python -m frontends.phone`: the phone front door on PORT (default 8006)."""

from frontends.common.serve import run
from frontends.phone.app import create_app
from frontends.phone.settings import PhoneSettings

if __name__ == "__main__":
    run("phone", PhoneSettings(), create_app)
