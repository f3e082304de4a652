from services.notify.main import create_app
from services.notify.settings import NotifySettings
from shared.serve import serve

settings = NotifySettings()
serve(create_app(settings), settings)
