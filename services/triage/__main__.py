from services.triage.main import create_app
from services.triage.settings import TriageSettings
from shared.serve import serve

settings = TriageSettings()
serve(create_app(settings), settings)
