"""Custom actions for the Rasa server, run by the action server (``rasa run actions``).

Importing the package protects the action server it runs in (`actions.auth`).
"""

from actions.auth import protect_the_action_server

protect_the_action_server()
