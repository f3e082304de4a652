from frontends.web.main import create_app, serve
from frontends.web.settings import WebSettings

settings = WebSettings()
serve(create_app(settings), settings)
