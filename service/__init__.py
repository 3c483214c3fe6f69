"""The low-latency HTTP service (FastAPI) that answers every channel from a trained bundle."""
