"""The HTTP API's shared vocabulary, low enough for every feature to use: an operation (method, path, handler,
body and answer models, roles) that a feature describes and a host mounts (``restapi.http``), the bases of
bodies and answers (``restapi.models``), and the request keys through which the host hands a handler who is
acting and how to audit it. It imports nothing of the house; the console is the host of /api/v1.
"""
