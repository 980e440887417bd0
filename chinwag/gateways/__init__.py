"""Assistants: the model providers a chat client talks to through its AI gateway."""
