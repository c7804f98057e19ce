"""Custom actions for the Rasa server, run by the action server (``rasa run actions``).

Importing the package protects the action server it runs in (`actions.auth`) and masks
credentials in its log lines (`chatops.redact`).
"""

from actions.auth import protect_the_action_server
from chatops.redact import install as mask_credentials_in_logs

mask_credentials_in_logs()
protect_the_action_server()
