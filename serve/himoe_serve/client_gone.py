class ClientGone(Exception):
    """The client closed the connection before its request was read."""
