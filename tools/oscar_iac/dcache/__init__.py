"""dCache storage events: the resumable listener (the package listener/, standard library
only, copied as a folder to relay hosts and the NiFi pod) and the light relay (relay.py:
`oscar-iac events relay` runs listeners in-process)."""
