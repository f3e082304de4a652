"""The Board's pages under /staff/board (and /board): the dashboard, the printable monthly
packet and its CSV. Aggregates only; sign-in is the staff console's."""

from frontends.web.board.routes import install

__all__ = ["install"]
