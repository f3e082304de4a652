from services.escalation.main import create_app
from services.escalation.settings import EscalationSettings
from shared.serve import serve

settings = EscalationSettings()
serve(create_app(settings), settings)
