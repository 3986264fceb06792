"""dCache storage events: the resumable listener (listener.py, standard library only)."""
