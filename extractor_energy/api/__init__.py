"""HTTP layer: FastAPI app factory, routers, response models, error handlers."""
