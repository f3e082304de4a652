"""What every frontend shares: its settings, a typed client of intake, health endpoints.

A frontend is a client of the services' HTTP APIs (never of their stores):

    settings = MyFrontendSettings()              # extends FrontendSettings
    intake = IntakeClient.from_settings(settings)
    app = FastAPI(lifespan=...)
    app.include_router(health_router(intake))     # /healthz, /readyz
"""
